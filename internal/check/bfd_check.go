package check

import (
	"errors"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/probe"
)

// BFDOptions are the body of BFD_CHECK: the real server's state follows a bfd_instance.
// vigil reads the block as Keepalived does but has no BFD yet: building the checker fails.
type BFDOptions struct {
	// Name is the bfd_instance followed (name).
	Name string `json:"name"`
}

// BFDKind is BFD_CHECK's block; of the shared keywords it takes alpha alone.
var BFDKind = Kind{Name: "BFD_CHECK", JSON: "bfd", Shared: AlphaOnly, Block: func(b *Block) Options {
	o := &BFDOptions{}
	dropped := false
	b.Keywords["name"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		// Whether the bfd_instance exists is checked by the BFD side; vigil keeps the name.
		switch {
		case len(l.Words) != 2:
			p.Diags.Warnf(l.Pos, "(%s) BFD_CHECK - No or too many names specified - skipping checker", b.Server)
			dropped = true
		case o.Name != "":
			p.Diags.Warnf(l.Pos, "(%s) BFD_CHECK - BFD %s already specified as %s", b.Server, l.Words[1], o.Name)
			dropped = true
		case len(l.Words[1]) >= 32: // BFD_INAME_MAX
			p.Diags.Warnf(l.Pos, "(%s) BFD_CHECK - BFD name %s too long", b.Server, l.Words[1])
			dropped = true
		default:
			o.Name = l.Words[1]
		}
	}}
	b.Close = func(p *syntax.Parser, end syntax.Pos) bool {
		if dropped {
			return false
		}
		if o.Name == "" {
			p.Diags.Warnf(end, "(%s) No name has been specified for BFD_CHECKER - skipping", b.Server)
			return false
		}
		return true
	}
	return o
}}

// New fails: vigil does not run BFD.
func (o BFDOptions) New(Env) (probe.Checker, error) {
	return nil, errors.New("BFD_CHECK is not supported by vigil yet")
}
