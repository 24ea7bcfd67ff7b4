package syntax

// TrueFalse is Keepalived's check_true_false: true for "true", "on" and "yes", false for "false",
// "off" and "no" (exact, lower case); ok is false for any other word.
func TrueFalse(s string) (v, ok bool) {
	switch s {
	case "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	return false, false
}

// OptBool reads the optional true/false word after a keyword: the keyword alone means true.
// When the word is neither, bad is called with it (to report it in the keyword's own words) and
// ok is false.
func OptBool(l Line, bad func(word string)) (v, ok bool) {
	if len(l.Words) < 2 {
		return true, true
	}
	if v, ok := TrueFalse(l.Words[1]); ok {
		return v, true
	}
	bad(l.Words[1])
	return false, false
}
