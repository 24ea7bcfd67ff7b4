package daemon

// reportPoolLocked tells Options.PoolHealth whether svc's pool has quorum now. Repeating a
// state is harmless: the VRRP half ignores a report that changes nothing.
func (d *Daemon) reportPoolLocked(svc *service) {
	if d.opts.PoolHealth != nil {
		d.opts.PoolHealth(svc.name, svc.pool.Desired().QuorumUp)
	}
}
