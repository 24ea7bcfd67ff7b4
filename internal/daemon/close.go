package daemon

// Close releases what New opened, for a daemon whose Run is never called (Run releases it
// when it returns): the data plane's handle and the ICMP sockets.
func (d *Daemon) Close() error {
	d.pingers.close()
	return d.dp.Close()
}
