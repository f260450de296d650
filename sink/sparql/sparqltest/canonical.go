package sparqltest

import (
	"strconv"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// StoreCanonical maps a triple to the form both stores return it in. Both
// hold xsd:decimal natively and return the canonical lexical form ("+1.96"
// comes back as "1.96" from Oxigraph 0.5 and Virtuoso 7.2); Virtuoso also
// returns an xsd:decimal without fraction digits as xsd:integer, and
// geo:wktLiteral as its own virtrdf:Geometry with the keyword upper-cased.
// Such triples still match by value in DELETE DATA (checked on both), so
// diffs apply; only the text read back differs, and the comparison of a
// store's graph normalises both sides.
func StoreCanonical(tr rdfdiff.Triple) rdfdiff.Triple {
	o := tr.O
	if !o.IsLiteral() {
		return tr
	}
	lex, dt := o.Value(), o.Datatype()
	switch dt {
	case rdfdiff.XSDInteger, rdfdiff.XSDDecimal:
		lex = strings.TrimPrefix(lex, "+")
		if strings.Contains(lex, ".") {
			lex = strings.TrimRight(strings.TrimRight(lex, "0"), ".")
		}
		if lex == "" || lex == "-" {
			lex += "0"
		}
		if !strings.Contains(lex, ".") {
			dt = rdfdiff.XSDInteger
		}
		tr.O = rdfdiff.NewTypedLiteral(lex, dt)
	case rdfdiff.XSDDouble:
		if f, err := strconv.ParseFloat(lex, 64); err == nil {
			tr.O = rdfdiff.NewTypedLiteral(strconv.FormatFloat(f, 'g', -1, 64), dt)
		}
	case "http://www.opengis.net/ont/geosparql#wktLiteral", "http://www.openlinksw.com/schemas/virtrdf#Geometry":
		tr.O = rdfdiff.NewTypedLiteral(strings.ToUpper(lex), "http://www.opengis.net/ont/geosparql#wktLiteral")
	}
	return tr
}
