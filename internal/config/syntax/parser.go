package syntax

import "strconv"

// The parser walks lexed lines with keyword tables, the way Keepalived's own parser does: each
// block kind has a table of the keywords it accepts; a keyword either takes its arguments from its
// line (scalar), opens a block whose body is read with another table (block), or opens a block of
// free-form lines such as a list of addresses (values).

// Keyword is one entry of a keyword table. Exactly one of Scalar, Block and Values is set.
type Keyword struct {
	// Scalar handles a keyword that takes its arguments on its own line.
	Scalar func(p *Parser, l Line)
	// Block handles a keyword that opens a block. It returns the table for the block's body,
	// already bound to the object the body fills; nil skips the body (counting braces).
	Block func(p *Parser, l Line) *Table
	// Values handles a keyword whose block holds free-form lines (addresses, script names...).
	// It returns the handler called for each line of the body; nil skips the body.
	Values func(p *Parser, l Line) func(p *Parser, l Line)
}

// Table is the set of keywords one kind of block accepts.
type Table struct {
	Keywords map[string]Keyword
	// Close, if set, runs when the block ends (at its '}' or at the end of input), to
	// validate the object and apply defaults.
	Close func(p *Parser, end Pos)
}

// Parser holds the state of one parse. Keyword handlers report through Diags, directly or with
// the value readers (values*.go); a Parser with only Diags set serves for the readers alone.
type Parser struct {
	Diags *Diagnostics

	lines []Line
	next  int
	// extraClose marks the '}' lines that close more braces than the text has opened so far,
	// counted as Keepalived's read_line counts them: over the words, whatever the keywords.
	extraClose []bool
}

// Parse reads lines with top as the table of the top level, reporting to diags. The tables'
// handlers fill whatever objects they are bound to; problems go to diags.
func Parse(lines []Line, top *Table, diags *Diagnostics) {
	p := &Parser{lines: splitBraces(lines), Diags: diags}
	p.markExtraCloses()
	p.parseBlock(top, 0)
}

// Peek returns the next line without consuming it.
func (p *Parser) Peek() (Line, bool) {
	if p.next < len(p.lines) {
		return p.lines[p.next], true
	}
	return Line{}, false
}

// markExtraCloses fills p.extraClose.
func (p *Parser) markExtraCloses() {
	p.extraClose = make([]bool, len(p.lines))
	depth := 0
	for i, l := range p.lines {
		for _, w := range l.Words {
			switch w {
			case "{":
				depth++
			case "}":
				if depth--; depth < 0 {
					p.extraClose[i], depth = true, 0
				}
			}
		}
	}
}

// splitBraces rewrites lines so that '{' only ever ends a line and '}' only ever stands alone:
// "a {" stays, "x { 1 2 }" becomes "x {", "1 2", "}". Keepalived accepts both layouts.
func splitBraces(in []Line) []Line {
	out := make([]Line, 0, len(in))
	for _, l := range in {
		start := 0
		for i, w := range l.Words {
			switch w {
			case "{":
				out = append(out, Line{Pos: l.Pos, Words: l.Words[start : i+1]})
				start = i + 1
			case "}":
				if i > start {
					out = append(out, Line{Pos: l.Pos, Words: l.Words[start:i]})
				}
				out = append(out, Line{Pos: l.Pos, Words: l.Words[i : i+1]})
				start = i + 1
			}
		}
		if start < len(l.Words) {
			out = append(out, Line{Pos: l.Pos, Words: l.Words[start:]})
		}
	}
	return out
}

// parseBlock reads lines with t until the '}' that closes the block (depth > 0) or the end of
// input. It returns the position where the block ended.
func (p *Parser) parseBlock(t *Table, depth int) Pos {
	var end Pos
	defer func() {
		if t.Close != nil {
			t.Close(p, end)
		}
	}()
	for p.next < len(p.lines) {
		l := p.lines[p.next]
		p.next++
		end = l.Pos
		first := l.Words[0]
		if first == "}" {
			if depth > 0 {
				return end
			}
			// At the top level Keepalived reads '}' as a keyword it does not know, and says so;
			// it also says "Extra" when the text has closed more braces than it opened.
			if p.extraClose[p.next-1] {
				p.Diags.Warnf(l.Pos, "Extra '}' found")
			}
			p.Diags.Warnf(l.Pos, "Unknown keyword '}'")
			continue
		}
		if first == "{" {
			p.Diags.Warnf(l.Pos, "Unexpected '{' - ignoring")
			continue
		}
		words, opens := l.Words, false
		if words[len(words)-1] == "{" {
			words, opens = words[:len(words)-1], true
		}
		kl := Line{Pos: l.Pos, Words: words}
		kw, ok := t.Keywords[first]
		if !ok {
			p.Diags.Warnf(l.Pos, "Unknown keyword '%s'", first)
			if opens {
				// Like Keepalived: the brace is dropped and the body is read at this level, so
				// every line of it is reported too.
				p.Diags.Warnf(l.Pos, "Unexpected '{' - ignoring")
			}
			continue
		}
		switch {
		case kw.Scalar != nil:
			if opens {
				p.Diags.Warnf(l.Pos, "Unexpected '{' - ignoring")
			}
			kw.Scalar(p, kl)
		case kw.Values != nil && !opens && !p.takeOpenBrace():
			p.valuesWithoutBrace(kw, kl)
		case kw.Block != nil, kw.Values != nil:
			if !opens && !p.takeOpenBrace() {
				// Keepalived reads the next line looking for the brace and reports it there; the
				// line is then read again at this level.
				at := l.Pos
				if p.next < len(p.lines) {
					at = p.lines[p.next].Pos
				}
				p.Diags.Warnf(at, "Missing '{' at beginning of configuration block")
				continue
			}
			if kw.Block != nil {
				if sub := kw.Block(p, kl); sub != nil {
					p.parseBlock(sub, depth+1)
				} else {
					p.skipBlock()
				}
			} else if each := kw.Values(p, kl); each != nil {
				p.valueBlock(each)
			} else {
				p.skipBlock()
			}
		}
	}
	return end
}

// valuesWithoutBrace reads a values block whose '{' is missing as Keepalived's
// alloc_value_block does: words after the keyword are "extra parameters" and dropped, and the
// lines that follow, up to the first that is or ends with '}', are the block's values, whatever
// they say. That '}' usually closes the enclosing block, which then goes on with the next lines:
// `notification_email admin@example.com` in global_defs swallows the rest of global_defs and
// leaves the next vrrp_instance read as unknown keywords of global_defs, so Keepalived never
// creates it; neither does vigil. vigil says at the keyword's line what happened.
func (p *Parser) valuesWithoutBrace(kw Keyword, l Line) {
	if len(l.Words) > 1 {
		p.Diags.Warnf(l.Pos, "Block %s has extra parameters %s ...", l.Words[0], l.Words[1])
	}
	until := "the end of the file"
	for i := p.next; i < len(p.lines); i++ {
		if p.lines[i].Words[0] == "}" {
			until = "line " + strconv.Itoa(p.lines[i].Pos.Line)
			break
		}
	}
	p.Diags.Warnf(l.Pos, "'{' missing from beginning of block %s: the lines up to the first '}' (%s) are read as its values, as Keepalived reads them", l.Words[0], until)
	each := kw.Values(p, Line{Pos: l.Pos, Words: l.Words[:1]})
	for p.next < len(p.lines) {
		v := p.lines[p.next]
		p.next++
		if v.Words[0] == "}" {
			return
		}
		words := v.Words
		if words[len(words)-1] == "{" {
			words = words[:len(words)-1] // a '{' here opens nothing
			if len(words) == 0 {
				continue
			}
		}
		if each != nil {
			each(p, Line{Pos: v.Pos, Words: words})
		}
	}
}

// takeOpenBrace consumes a '{' that stands alone on the next line.
func (p *Parser) takeOpenBrace() bool {
	if p.next < len(p.lines) && len(p.lines[p.next].Words) == 1 && p.lines[p.next].Words[0] == "{" {
		p.next++
		return true
	}
	return false
}

// valueBlock hands each line of a block to each until the closing '}'. A nested block inside a
// value block has no meaning; its lines are passed on and its braces balanced.
func (p *Parser) valueBlock(each func(p *Parser, l Line)) {
	depth := 1
	for p.next < len(p.lines) {
		l := p.lines[p.next]
		p.next++
		switch l.Words[0] {
		case "}":
			depth--
			if depth == 0 {
				return
			}
			continue
		case "{":
			depth++
			continue
		}
		if l.Words[len(l.Words)-1] == "{" {
			depth++
			l.Words = l.Words[:len(l.Words)-1]
		}
		each(p, l)
	}
}

// ReadValues reads the body of a values block with each, as the engine would, and returns the
// position of its closing '}' (start when the input ends first). It is for a Values handler
// that reports at the end of its block, as Keepalived does for virtual_server_group: the handler
// calls it, reports, and returns nil, and the engine then consumes the '}' it left.
func (p *Parser) ReadValues(start Pos, each func(p *Parser, l Line)) (end Pos) {
	p.valueBlock(each)
	end = start
	if p.next > 0 && p.lines[p.next-1].Words[0] == "}" {
		end = p.lines[p.next-1].Pos
		p.next-- // left for the engine's skipBlock
	}
	return end
}

// skipBlock passes over a block's body, counting braces.
func (p *Parser) skipBlock() {
	depth := 1
	for p.next < len(p.lines) && depth > 0 {
		l := p.lines[p.next]
		p.next++
		if l.Words[0] == "}" {
			depth--
		} else if l.Words[len(l.Words)-1] == "{" {
			depth++
		}
	}
}

// UnsupportedPrefix starts every refusal of a keyword Keepalived knows and vigil does not do.
const UnsupportedPrefix = "vigil does not support "

// WarnUnsupported says at l that vigil does not support l's keyword, and why.
func (p *Parser) WarnUnsupported(l Line, why string) {
	p.Diags.Warnf(l.Pos, "%s%s: %s", UnsupportedPrefix, l.Words[0], why)
}

// Unsupported wraps k so that its keyword is refused at its line (WarnUnsupported) and then
// read as k reads it, so that what the line holds is still checked and shown by dump-config. A
// zero k is a keyword with no reader: only the refusal.
func Unsupported(k Keyword, why string) Keyword {
	warn := func(p *Parser, l Line) { p.WarnUnsupported(l, why) }
	switch {
	case k.Scalar != nil:
		f := k.Scalar
		k.Scalar = func(p *Parser, l Line) { warn(p, l); f(p, l) }
	case k.Block != nil:
		f := k.Block
		k.Block = func(p *Parser, l Line) *Table { warn(p, l); return f(p, l) }
	case k.Values != nil:
		f := k.Values
		k.Values = func(p *Parser, l Line) func(p *Parser, l Line) { warn(p, l); return f(p, l) }
	default: // a keyword vigil has no reader for: refused, its arguments unread
		k.Scalar = warn
	}
	return k
}
