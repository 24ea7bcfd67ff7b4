package testenv

import (
	"fmt"
	"path/filepath"
)

// ControlToken is the status_token of ControlConfig.
const ControlToken = "s3cret"

// ControlConfig is what a configuration needs for tests of the operators' commands: a
// global_defs with status_token ControlToken, the control socket (ControlSocket) and state_dir
// (StateDir) in dir, and the lines of globals; then a vrrp_instance VI_1 on an interface that
// does not exist, which the VRRP half runs (waiting for the interface, sending nothing) so that
// it can be resigned. The virtual servers are the test's.
func ControlConfig(dir, globals string) string {
	return fmt.Sprintf(`global_defs {
    status_token %s
    control_socket %s
    state_dir %s
%s}
vrrp_instance VI_1 {
    interface vgl-missing0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.10/32
    }
}
`, ControlToken, ControlSocket(dir), StateDir(dir), globals)
}

// ControlSocket is the control socket of ControlConfig(dir, ...).
func ControlSocket(dir string) string { return filepath.Join(dir, "control.sock") }

// StateDir is the state_dir of ControlConfig(dir, ...).
func StateDir(dir string) string { return filepath.Join(dir, "state") }
