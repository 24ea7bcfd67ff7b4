package fsm

import (
	"testing"
	"time"
)

func TestResignedMasterSendsPriorityZeroAndStaysBackupUntilReady(t *testing.T) {
	m := newMachine(t, nil)
	now := startMaster(t, m)
	down := m.MasterDownInterval()
	expect(t, "resign", m.Resign(now), "send-advert(0) remove-vips notify(BACKUP)", Backup, now.Add(down))
	if !m.Resigned() {
		t.Fatal("not resigned after Resign")
	}
	// No master advertises: the down timer runs out and the machine stays backup.
	now = now.Add(down)
	expect(t, "timer", m.Timer(now), "", Backup, now.Add(down))
	// A lower priority master would be preempted; a resigned machine lets it be.
	expect(t, "lower advert", m.Advert(now, adv(50, "192.0.2.9")), "", Backup, now.Add(down))
	now = now.Add(down)
	expect(t, "timer after lower advert", m.Timer(now), "", Backup, now.Add(down))
	expect(t, "resign again", m.Resign(now), "", Backup, now.Add(down))
	now = now.Add(time.Second)
	expect(t, "ready", m.Ready(now), "", Backup, now.Add(down))
	expect(t, "ready again", m.Ready(now), "", Backup, now.Add(down))
	now = now.Add(down)
	expect(t, "timer once ready", m.Timer(now), "send-advert(100) add-vips notify(MASTER)", Master, now.Add(time.Second))
}

func TestResignedOwnerStartsAsBackupAndTakesOverAtReady(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255 })
	expect(t, "resign before startup", m.Resign(t0), "", Init, time.Time{})
	down := m.MasterDownInterval()
	expect(t, "startup", m.Startup(t0), "remove-vips notify(BACKUP)", Backup, t0.Add(down))
	expect(t, "ready", m.Ready(at(3*time.Second)), "send-advert(255) add-vips notify(MASTER)", Master, at(4*time.Second))
}

func TestResignedOwnerFaultyFromStartupStaysBackupWhenTheFaultClears(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255 })
	m.Fault(t0)
	expect(t, "startup", m.Startup(t0), "remove-vips notify(FAULT)", Fault, time.Time{})
	m.Resign(t0)
	down := m.MasterDownInterval()
	expect(t, "fault cleared", m.FaultCleared(at(time.Second)), "notify(BACKUP)", Backup, at(time.Second).Add(down))
}

func TestResignedSyncMemberNeverWantsMasterNorFollowsItsGroupThere(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Synced = true })
	r := m.Startup(t0)
	now := r.Deadline
	m.Timer(now)
	if !m.WantsMaster() {
		t.Fatal("a synced backup whose timer ran out does not want master")
	}
	m.Resign(now)
	if m.WantsMaster() {
		t.Error("a resigned member still wants master")
	}
	expect(t, "force master", m.ForceMaster(now), "", Backup, m.Deadline())
	now = m.Deadline()
	m.Timer(now)
	if m.WantsMaster() {
		t.Error("a resigned member wants master after its timer")
	}
	m.Ready(now)
	expect(t, "force master once ready", m.ForceMaster(now), "send-advert(100) add-vips notify(MASTER)", Master, now.Add(time.Second))
}
