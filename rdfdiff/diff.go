package rdfdiff

import "errors"

// ReclassifySitelinks moves sitelink triples to the shared buckets (reference §3.1).
func ReclassifySitelinks(p Patch) (Patch, error) {
	return p, errors.New("rdfdiff: ReclassifySitelinks not implemented yet")
}
