package netif

import "testing"

// readBackCase is an entry to install and another that differs from it in one attribute.
type readBackCase[T any] struct {
	name         string
	entry, other T
}

// checkReadBack installs every case's entry with add and checks that has finds it only once
// it is added, and never finds the other entry. show prints the kernel's state for a failure.
func checkReadBack[T any](t *testing.T, cases []readBackCase[T], has func(T) (bool, error), add func(T) error, show func() string) {
	t.Helper()
	found := func(e T) bool {
		t.Helper()
		ok, err := has(e)
		if err != nil {
			t.Fatalf("read back %+v: %v", e, err)
		}
		return ok
	}
	for _, tc := range cases {
		if found(tc.entry) {
			t.Errorf("%s: %+v found before it was added", tc.name, tc.entry)
		}
		if err := add(tc.entry); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	for _, tc := range cases {
		if !found(tc.entry) {
			t.Errorf("%s: %+v not found once added:\n%s", tc.name, tc.entry, show())
		}
		if found(tc.other) {
			t.Errorf("%s: %+v found, but only %+v is installed", tc.name, tc.other, tc.entry)
		}
	}
}
