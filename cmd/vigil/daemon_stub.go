package main

import (
	"fmt"
	"io"
)

func runDaemon(o options, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vigil: the daemon is not wired yet; use -t or dump-config")
	return 1
}

func runDemo(o options, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vigil: demo is not wired yet")
	return 1
}
