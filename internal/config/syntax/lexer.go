package syntax

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The lexer follows Keepalived 2.2.7's read_line (lib/parser.c) step by step, because the order
// of its steps decides what a configuration means: a physical line has its comment removed; then,
// in a loop, '@id' conditionals are resolved, '$NAME=' definitions recorded, '~SEQ'/'~LST' blocks
// started and '$NAME' references replaced; what is left may be an 'include'; finally the line is
// cut at its first brace and the rest read as if it were the next line. Lines produced by a
// sequence or by a multiline definition go through the same loop. Everything Keepalived leaves
// unbounded (line length, expansion, include depth) is bounded here and reported.

const (
	// maxLineBytes is the longest physical line kept; a longer one is reported and skipped
	// without being held in memory.
	maxLineBytes = 4 << 20
	// maxIncludeDepth bounds nested includes (Keepalived has no bound but the open file limit).
	maxIncludeDepth = 32
	// maxBlockDepth is the brace nesting beyond which the configuration is refused.
	maxBlockDepth = 10_000
	// maxTotalBytes bounds the text kept after expansion.
	maxTotalBytes = 256 << 20
)

// lexer holds the state of one read of a configuration and the files it includes.
type lexer struct {
	diags    *Diagnostics
	configID string
	getenv   func(string) (string, bool)
	maxLines int
	produced int   // lines read or generated so far, against maxLines
	kept     int64 // bytes of text kept, against maxTotalBytes
	stopped  bool  // a bound was hit: the rest is not read

	defs       map[string]*definition
	collecting *definition // multiline definition whose lines are being read
	seqs       []*seqBlock // pending ~SEQ/~LST, innermost last
	mlNext     mlState     // lines of a multiline definition still to produce
	mlStack    []mlEntry   // outer multiline expansions suspended by an inner one
	// mlSeqDepth is the number of sequences that were pending when the current multiline
	// expansion started: those wait until it has finished.
	mlSeqDepth    int
	substitutions int // replacements made in the current line

	residue     string // text after a brace, read next
	residueLast int    // index of the last '$' in residue, or -1
	hasResidue  bool

	files    []*openFile // include stack, innermost last
	topName  string
	lastPos  Pos
	depth    int // brace depth, for the missing '}' report
	tooDeep  bool
	done     [][]Line // full chunks of lines produced
	cur      []Line   // the chunk being filled
	chainOut int      // index in cur of the line the current brace-split chain adds to, or -1
	slab     []string
}

// mlState is what remains of a multiline definition being expanded.
type mlState struct {
	text   string
	active bool
}

type mlEntry struct {
	text     string
	seqDepth int
}

// openFile is one file being read.
type openFile struct {
	name   string // as reported in Pos.File
	dir    string // directory for relative includes
	absDir string // ${_PWD}, computed when first used
	info   os.FileInfo
	r      *bufio.Reader
	c      io.Closer
	line   int
	inc    *includeGlob // the include that opened it, with the matches still to read
}

func newLexer(opts Options, diags *Diagnostics) *lexer {
	lx := &lexer{
		diags:    diags,
		configID: opts.configID(),
		getenv:   opts.LookupEnv,
		maxLines: opts.MaxLines,
		defs:     map[string]*definition{},
		chainOut: -1,
	}
	if lx.maxLines <= 0 {
		lx.maxLines = DefaultMaxLines
	}
	if lx.getenv == nil {
		lx.getenv = os.LookupEnv
	}
	lx.addStdDefinitions()
	return lx
}

// Lex reads path and everything it includes into lines. The error is non-nil only when path
// itself cannot be read; every other problem is a diagnostic.
func Lex(path string, opts Options, diags *Diagnostics) ([]Line, error) {
	f, info, err := openConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration %s: %w", path, err)
	}
	lx := newLexer(opts, diags)
	lx.topName = path
	lx.files = append(lx.files, &openFile{name: path, dir: filepath.Dir(path), info: info, r: bufio.NewReader(f), c: f})
	return lx.run(), nil
}

// LexBytes reads src as the configuration file name (which need not exist; includes are
// relative to its directory).
func LexBytes(name string, src []byte, opts Options, diags *Diagnostics) []Line {
	lx := newLexer(opts, diags)
	lx.topName = name
	lx.files = append(lx.files, &openFile{name: name, dir: filepath.Dir(name), r: bufio.NewReader(bytes.NewReader(src))})
	return lx.run()
}

var errNotRegular = errors.New("not a regular non-executable file")

// openConfigFile opens a configuration file the way Keepalived accepts one: a regular file with
// no execute bit. O_NONBLOCK keeps a FIFO put in its place from blocking the open.
func openConfigFile(path string) (*os.File, os.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if st.IsDir() {
		return nil, nil, errors.New("is a directory")
	}
	if !st.Mode().IsRegular() || st.Mode()&0o111 != 0 {
		return nil, nil, errNotRegular
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err = f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 != 0 {
		f.Close()
		if err == nil {
			err = errNotRegular
		}
		return nil, nil, err
	}
	return f, st, nil
}

// run produces every line.
func (lx *lexer) run() []Line {
	defer func() {
		for _, f := range lx.files {
			if f.c != nil {
				f.c.Close()
			}
		}
		lx.files = nil
	}()
	var words []string
	for {
		seg, cont, ok := lx.next()
		if !ok {
			break
		}
		pos := lx.pos()
		switch seg {
		case "{":
			lx.depth++
			if lx.depth > maxBlockDepth && !lx.tooDeep {
				lx.tooDeep = true
				lx.diags.Errorf(pos, "blocks nested deeper than %d", maxBlockDepth)
			}
		case "}":
			if lx.depth > 0 {
				lx.depth--
			}
		}
		lx.kept += int64(len(seg))
		if lx.kept > maxTotalBytes {
			lx.diags.Errorf(pos, "configuration is larger than %d bytes after expansion; the rest is ignored", maxTotalBytes)
			break
		}
		var unmatched bool
		words, unmatched = splitWords(seg, words[:0])
		if unmatched {
			lx.diags.Warnf(pos, "Unmatched quote: '%s'", clip(seg))
		}
		if len(words) == 0 {
			if !cont {
				lx.chainOut = -1
			}
			continue
		}
		if cont && lx.chainOut >= 0 {
			l := &lx.cur[lx.chainOut]
			l.Words = append(l.Words, words...)
			continue
		}
		if len(lx.cur) == cap(lx.cur) {
			// Lines are kept in chunks and joined once at the end: growing one slice of
			// 100,000 lines would copy it many times over.
			if lx.cur != nil {
				lx.done = append(lx.done, lx.cur)
			}
			lx.cur = make([]Line, 0, 4096)
		}
		lx.cur = append(lx.cur, Line{Pos: pos, Words: lx.keepWords(words)})
		lx.chainOut = len(lx.cur) - 1
	}
	if lx.depth > 0 {
		lx.diags.Warnf(Pos{File: lx.topName}, "There are %d missing '}'s or extra '{'s", lx.depth)
	}
	if len(lx.done) == 0 {
		return lx.cur
	}
	n := len(lx.cur)
	for _, c := range lx.done {
		n += len(c)
	}
	out := make([]Line, 0, n)
	for _, c := range lx.done {
		out = append(out, c...)
	}
	return append(out, lx.cur...)
}

// keepWords copies words into a shared slab, so that lines cost no allocation each. The slice
// returned has no spare capacity: appending to it copies.
func (lx *lexer) keepWords(words []string) []string {
	if len(words) > cap(lx.slab)-len(lx.slab) {
		lx.slab = make([]string, 0, max(4096, len(words)))
	}
	start := len(lx.slab)
	lx.slab = append(lx.slab, words...)
	return lx.slab[start:len(lx.slab):len(lx.slab)]
}

// pos is the position of the line being read.
func (lx *lexer) pos() Pos {
	if n := len(lx.files); n > 0 {
		f := lx.files[n-1]
		lx.lastPos = Pos{File: f.name, Line: f.line}
	}
	return lx.lastPos
}

// currentDir is ${_PWD}: the absolute directory of the file being read.
func (lx *lexer) currentDir() string {
	n := len(lx.files)
	if n == 0 {
		return ""
	}
	f := lx.files[n-1]
	if f.absDir == "" {
		d, err := filepath.Abs(f.dir)
		if err != nil {
			d = f.dir
		}
		f.absDir = d
	}
	return f.absDir
}

// count charges one line against MaxLines.
func (lx *lexer) count() bool {
	lx.produced++
	if lx.produced > lx.maxLines {
		lx.diags.Errorf(lx.pos(), "configuration is longer than %d lines after includes and ~SEQ/~LST expansion; the rest is ignored", lx.maxLines)
		lx.stopped = true
		return false
	}
	return true
}

func (lx *lexer) remaining() int { return lx.maxLines - lx.produced }

// next returns the next brace-split segment of text. cont says it is the rest of the previous
// segment's line (the text after a brace).
func (lx *lexer) next() (seg string, cont, ok bool) {
	for !lx.stopped {
		var buf string
		last := -1 // index of the last '$' in buf, or -1
		cont = false
		switch {
		case lx.hasResidue:
			buf, last, cont = lx.residue, lx.residueLast, true
			lx.hasResidue = false
		case len(lx.seqs) > lx.mlSeqDepth:
			if !lx.count() {
				return "", false, false
			}
			buf = lx.stepSeq()
			last = strings.LastIndexByte(buf, '$')
		case lx.mlNext.active:
			if !lx.count() {
				return "", false, false
			}
			buf = lx.nextMultiline()
			last = strings.LastIndexByte(buf, '$')
		default:
			line, ok := lx.readLine()
			if !ok {
				return "", false, false
			}
			buf = line
			last = strings.LastIndexByte(buf, '$')
		}
		if !cont {
			// The text after a brace is substituted again, so a value holding a brace and a
			// reference to itself makes an endless line: the bound covers the whole line.
			lx.substitutions = 0
		}
		if lx.collecting != nil {
			lx.collectDefinitionLine(buf)
			continue
		}
		if buf == "" {
			continue
		}
		buf, last = lx.process(buf, last)
		if buf == "" || lx.checkInclude(buf) {
			continue
		}
		head, restAt, rest := splitBrace(buf)
		if rest != "" {
			lx.residue, lx.hasResidue = rest, true
			lx.residueLast = last - restAt
			if lx.residueLast < 0 {
				lx.residueLast = -1
			}
		}
		return head, cont, true
	}
	return "", false, false
}

// nextMultiline produces the next line of the multiline definition being expanded.
func (lx *lexer) nextMultiline() string {
	text := lx.mlNext.text
	if k := strings.IndexByte(text, '\n'); k >= 0 {
		lx.mlNext.text = text[k+1:]
		return text[:k]
	}
	if n := len(lx.mlStack); n > 0 {
		e := lx.mlStack[n-1]
		lx.mlStack = lx.mlStack[:n-1]
		lx.mlNext = mlState{text: e.text, active: true}
		lx.mlSeqDepth = e.seqDepth
	} else {
		lx.mlNext = mlState{}
		lx.mlSeqDepth = 0
	}
	return text
}

// process resolves conditionals, definitions, sequences and substitutions in buf, returning ""
// when nothing is left of it. last is the index of buf's last '$' (-1 for none), kept up to
// date so that the pieces of a line with many braces are not searched again and again.
func (lx *lexer) process(buf string, last int) (string, int) {
	for {
		if buf[0] == '@' {
			rev := len(buf) > 1 && buf[1] == '^'
			ofs := 1
			if rev {
				ofs = 2
			}
			sp := strings.IndexAny(buf[ofs:], " \t")
			if sp < 0 {
				return "", -1
			}
			if (buf[ofs:ofs+sp] != lx.configID) != rev {
				return "", -1
			}
			start := skipBlanks(buf, ofs+sp)
			buf, last = buf[start:], last-start
			if buf == "" {
				return "", -1
			}
		}
		if buf[0] == '$' && lx.checkDefinition(buf) {
			return "", -1
		}
		if strings.HasPrefix(buf, "~SEQ") || strings.HasPrefix(buf, "~LST") {
			lx.seqSpec(buf)
			return "", -1
		}
		if buf[0] == '~' || last < 0 {
			return buf, last
		}
		out, ml, found, ok := lx.replaceParams(buf, lx.mlNext)
		if !ok {
			return "", -1
		}
		if !found {
			return out, strings.LastIndexByte(out, '$')
		}
		lx.mlNext = ml
		buf, _ = decomment(out)
		if buf == "" {
			return "", -1
		}
		last = strings.LastIndexByte(buf, '$')
		if buf[0] != '@' && last < 0 {
			return buf, last
		}
	}
}

// readLine returns the next non-empty physical line, decommented, following the include stack.
func (lx *lexer) readLine() (string, bool) {
	for !lx.stopped {
		n := len(lx.files)
		if n == 0 {
			return "", false
		}
		f := lx.files[n-1]
		raw, ok := lx.readPhysical(f)
		if !ok {
			lx.endFile()
			continue
		}
		if !lx.count() {
			return "", false
		}
		line, unterminated := decomment(raw)
		if unterminated {
			lx.diags.Warnf(lx.pos(), "Unterminated quote '%s'", clip(strings.TrimLeft(raw, " \t")))
		}
		if line == "" {
			// Blank in the copy Keepalived's processes read (see below), so it ends a
			// multiline definition even when it held a comment.
			lx.endCollecting()
			continue
		}
		// Keepalived's VRRP and checker processes read a copy of the configuration written by
		// the parent after this first decomment, and decomment it again: '\#' and '\!' protect
		// a comment character only for the parent. A copied line starting with '#' or '!' is
		// taken as a marker of the copy and lost.
		if line[0] == '#' || line[0] == '!' {
			lx.diags.Warnf(lx.pos(), "line starts with an escaped '%c': Keepalived loses it", line[0])
			continue
		}
		line, _ = decomment(line)
		if line == "" {
			continue
		}
		return line, true
	}
	return "", false
}

// readPhysical reads one line of f without its line ending. ok is false at the end of the file.
func (lx *lexer) readPhysical(f *openFile) (string, bool) {
	// Most lines fit the reader's buffer and are copied once, straight into a string.
	if chunk, err := f.r.ReadSlice('\n'); err != bufio.ErrBufferFull {
		if err != nil && len(chunk) == 0 {
			if err != io.EOF {
				lx.diags.Warnf(Pos{File: f.name, Line: f.line + 1}, "read %s: %v", f.name, err)
			}
			return "", false
		}
		return lx.physicalLine(f, chunk, len(chunk)), true
	} else {
		return lx.longLine(f, chunk)
	}
}

// longLine reads the rest of a line longer than the reader's buffer, of which first is the start.
func (lx *lexer) longLine(f *openFile, first []byte) (string, bool) {
	buf := append([]byte(nil), first...)
	size := len(first)
	for {
		chunk, err := f.r.ReadSlice('\n')
		size += len(chunk)
		if size <= maxLineBytes {
			buf = append(buf, chunk...)
		} else {
			buf = nil
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			lx.diags.Warnf(Pos{File: f.name, Line: f.line + 1}, "read %s: %v", f.name, err)
		}
		break
	}
	if size > maxLineBytes {
		f.line++
		lx.diags.Errorf(lx.pos(), "line is %d bytes long, more than the limit of %d; ignored", size, maxLineBytes)
		return "", true
	}
	return lx.physicalLine(f, buf, size), true
}

// physicalLine counts the line read into buf (size bytes long with its ending) and returns it
// without its ending, cut at a NUL.
func (lx *lexer) physicalLine(f *openFile, buf []byte, size int) string {
	f.line++
	if size > keepalivedMaxLine {
		lx.diags.Warnf(lx.pos(), "line is %d bytes long; Keepalived reads at most %d bytes at a time and would split it", size, keepalivedMaxLine)
	}
	n := len(buf)
	for n > 0 && (buf[n-1] == '\n' || buf[n-1] == '\r') {
		n--
	}
	buf = buf[:n]
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		lx.diags.Warnf(lx.pos(), "NUL byte in line; the rest of the line is ignored, as Keepalived does")
		buf = buf[:i]
	}
	return string(buf)
}
