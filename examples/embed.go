// Package examples holds vigil's example configurations; the demo runs WebCluster.
package examples

import _ "embed"

// WebCluster is web-cluster.conf, the configuration `vigil demo` runs.
//
//go:embed web-cluster.conf
var WebCluster []byte
