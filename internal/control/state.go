package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-lb/vigil/internal/pool"
)

// StateFile is the state file's name under global_defs state_dir.
const StateFile = "admin-state.json"

// stateVersion is the state file's format; a file of another version is refused, not guessed at.
const stateVersion = 1

// State is what the operators set that outlives a restart: the admin state of real servers
// that are not simply ready, and the VRRP instances resigned.
type State struct {
	Version       int                `json:"version"`
	RealServers   []RealServerState  `json:"real_servers"`
	VRRPInstances []ResignationState `json:"vrrp_instances"`
}

// RealServerState is one real server's admin state, named as the status API names it.
type RealServerState struct {
	VirtualServer string `json:"virtual_server"`
	RealServer    string `json:"real_server"`
	pool.Admin
}

// ResignationState is one resigned VRRP instance.
type ResignationState struct {
	Name   string    `json:"name"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// Empty reports whether the state holds nothing.
func (s State) Empty() bool { return len(s.RealServers) == 0 && len(s.VRRPInstances) == 0 }

// Load reads the state file at path. A missing file is an empty State, not an error.
func Load(path string) (State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Version: stateVersion}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("state file %s: %w", path, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("state file %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return State{}, fmt.Errorf("state file %s: version %d, expected %d", path, st.Version, stateVersion)
	}
	return st, nil
}

// Save writes st to path so that a crash leaves the old file or the new one, never a part:
// a temporary file beside it, written and synced, renamed over it, then the directory synced.
// The directory is made (0700) if missing. An empty State where there is no file writes
// nothing, so that a vigil nobody operated leaves no trace.
func Save(path string, st State) error {
	st.Version = stateVersion
	if st.RealServers == nil {
		st.RealServers = []RealServerState{}
	}
	if st.VRRPInstances == nil {
		st.VRRPInstances = []ResignationState{}
	}
	if st.Empty() {
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("state file %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("state file %s: sync directory: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("state file %s: sync directory: %w", path, err)
	}
	return nil
}
