package control

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/pool"
)

func TestStateSurvivesSaveAndLoadAndLeavesNoTemporaryFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "made", "by", "save")
	path := filepath.Join(dir, StateFile)
	since := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	st := State{
		RealServers: []RealServerState{{VirtualServer: "[192.0.2.1]:tcp:80", RealServer: "192.0.2.11:80",
			Admin: pool.Admin{State: pool.AdminDrain, Weight: 3, HasWeight: true, By: "socket uid 0", Reason: "disk", Since: since}}},
		VRRPInstances: []ResignationState{{Name: "VI_1", By: "http from 192.0.2.9:4000", Reason: "kernel", Since: since}},
	}
	if err := Save(path, st); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Version = stateVersion
	if !reflect.DeepEqual(got, st) {
		t.Errorf("loaded %+v, saved %+v", got, st)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the state file alone", len(entries))
	}
	for path, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	// Everything ready again: the file says so rather than keep the old states.
	if err := Save(path, State{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(path); !got.Empty() {
		t.Errorf("after an empty save: %+v", got)
	}
}

func TestEmptyStateWritesNoFileAndAMissingFileIsEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none", StateFile)
	if err := Save(path, State{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("an empty state made %s: %v", filepath.Dir(path), err)
	}
	if st, err := Load(path); err != nil || !st.Empty() {
		t.Errorf("Load of a missing file: %+v, %v", st, err)
	}
}

func TestLoadRefusesAFileItCannotRead(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"garbage": "{not json", "future": `{"version": 2}`} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(body), 0o600)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Load = %v, want an error naming the file", name, err)
		}
	}
}
