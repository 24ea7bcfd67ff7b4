package testenv

import (
	"fmt"
	"os"
)

// NginxConfig is a configuration for nginx as tests run it, with http (its settings and
// servers) as the http block: one process (no master, so that a SIGKILL, StartCmd's at the end
// of the test, ends all of nginx and its output; a master's workers would outlive it), its pid
// file and temporary files in dir, its errors on stderr, no access log. Run it with
// "nginx -p DIR -e stderr -c FILE".
func NginxConfig(dir, http string) string {
	user := ""
	if os.Geteuid() == 0 {
		// As root nginx would serve as nobody, who cannot read the test's 0700 directory.
		user = "user root;\n"
	}
	return fmt.Sprintf(`daemon off;
master_process off;
%[1]spid %[2]s/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
%[3]s}
`, user, dir, http)
}
