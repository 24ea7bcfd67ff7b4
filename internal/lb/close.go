package lb

// Close releases what New opened, for a half whose Run is never called (Run releases it when
// it returns): the data plane's handle, the ICMP sockets and the bus's subscribers.
func (d *Half) Close() error {
	d.pingers.close()
	d.events.Close()
	return d.dp.Close()
}
