package sparql

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// The SPARQL sink records its commit point per input partition, not per job
// as UpdateBuilder.ReadCommitPoint does: the job runner gives every task (one
// partition of each input topic) its own Output, and tasks of one job commit
// independently into the same store, so a job-wide node would let one task's
// commit erase another's positions. Each partition has one node,
//
//	<ns>partition/<topic>/<partition>/cp/<checkpoint ID>
//	    <ns>topic "…" ; <ns>partition n ; <ns>offset n ; <ns>checkpointID n ; <ns>job "…" .
//
// in the commit graph (names percent-escaped). A commit inserts the new nodes
// and then deletes the partitions' nodes of other checkpoints, in the same
// request as the data. The node is keyed by topic and partition, not by job:
// two consumers that read the same topic into one store must use different
// commit namespaces or commit graphs.

// partitionNodePrefix is the IRI prefix of every commit node of one partition.
func (b *UpdateBuilder) partitionNodePrefix(topic string, partition int32) string {
	return b.commitNS + "partition/" + url.PathEscape(topic) + "/" + strconv.FormatInt(int64(partition), 10) + "/cp/"
}

// appendPartitionCommit writes cp's per-partition nodes and the deletion of
// the same partitions' older nodes as two operations of w. It writes nothing
// for a commit point without positions.
func (b *UpdateBuilder) appendPartitionCommit(w *updateWriter, cp *streamkit.CommitPoint) error {
	if len(cp.Positions) == 0 {
		return nil
	}
	id := strconv.FormatUint(cp.CheckpointID, 10)
	idT := rdfdiff.NewTypedLiteral(id, rdfdiff.XSDInteger)
	jobT := rdfdiff.NewLiteral(cp.Job)
	ts := make([]rdfdiff.Triple, 0, 5*len(cp.Positions))
	nodes := make([]byte, 0, 64*len(cp.Positions))
	prefixes := make([]byte, 0, 64*len(cp.Positions))
	for i, p := range cp.Positions.Sorted() {
		pfx := b.partitionNodePrefix(p.Topic, p.Partition)
		node := rdfdiff.NewIRI(pfx + id)
		ts = append(ts,
			rdfdiff.Triple{S: node, P: b.pred("topic"), O: rdfdiff.NewLiteral(p.Topic)},
			rdfdiff.Triple{S: node, P: b.pred("partition"), O: rdfdiff.NewTypedLiteral(strconv.FormatInt(int64(p.Partition), 10), rdfdiff.XSDInteger)},
			rdfdiff.Triple{S: node, P: b.pred("offset"), O: rdfdiff.NewTypedLiteral(strconv.FormatInt(cp.Positions[p], 10), rdfdiff.XSDInteger)},
			rdfdiff.Triple{S: node, P: b.pred("checkpointID"), O: idT},
			rdfdiff.Triple{S: node, P: b.pred("job"), O: jobT},
		)
		if i > 0 {
			nodes = append(nodes, ", "...)
			prefixes = append(prefixes, " || "...)
		}
		var err error
		if nodes, err = AppendSPARQLTerm(nodes, node); err != nil {
			return err
		}
		prefixes = append(prefixes, "STRSTARTS(STR(?n), "...)
		prefixes = appendSPARQLString(prefixes, pfx)
		prefixes = append(prefixes, ')')
	}
	if err := w.data("INSERT DATA", b.commitGraph, ts); err != nil {
		return err
	}
	where := "?n <" + b.commitNS + "checkpointID> ?id .\nFILTER((" + string(prefixes) + ") && ?n NOT IN (" + string(nodes) + "))\n?n ?p ?o ."
	w.deleteWhere(b.commitGraph, "?n ?p ?o .", "", where)
	return nil
}

// partitionCommitQuery is the SELECT that reads the nodes of partitions.
func (b *UpdateBuilder) partitionCommitQuery(partitions source.Partitions) string {
	ns := b.commitNS
	var sb strings.Builder
	sb.WriteString("SELECT ?n ?topic ?partition ?offset ?cp ?job WHERE {\n")
	if b.commitGraph != "" {
		sb.WriteString("GRAPH <" + b.commitGraph + "> {\n")
	}
	sb.WriteString("?n <" + ns + "checkpointID> ?cp ; <" + ns + "topic> ?topic ; <" + ns + "partition> ?partition ; <" +
		ns + "offset> ?offset ; <" + ns + "job> ?job .\nFILTER(")
	writePrefixFilter(&sb, partitions, b.partitionNodePrefix)
	sb.WriteString(")\n")
	if b.commitGraph != "" {
		sb.WriteString("}\n")
	}
	sb.WriteString("}")
	return sb.String()
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// readPartitionCommit reads the commit point of partitions; see
// SPARQL.ReadCommitPoint for the rules. warn is called (never nil) when stale
// nodes of an older checkpoint are found next to a complete newer one.
func (b *UpdateBuilder) readPartitionCommit(ctx context.Context, q Querier, partitions source.Partitions,
	warn func(msg string, args ...any)) (*streamkit.CommitPoint, error) {
	n := 0
	for topic, ps := range partitions {
		if topic == "" {
			return nil, fmt.Errorf("%w: empty topic in the partitions to read", streamkit.ErrInvalidCommitPoint)
		}
		for _, p := range ps {
			if p < 0 {
				return nil, fmt.Errorf("%w: %s partition %d is negative", streamkit.ErrInvalidCommitPoint, topic, p)
			}
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no partitions to read", streamkit.ErrNoCommitPoint)
	}
	res, err := q.Query(ctx, b.partitionCommitQuery(partitions))
	if err != nil {
		return nil, fmt.Errorf("sparql: reading the commit point of %d partition(s): %w", n, err)
	}
	type key struct {
		topic     string
		partition int32
	}
	type node struct {
		job    string
		id     uint64
		offset int64
	}
	wanted := make(map[key]bool, n)
	for topic, ps := range partitions {
		for _, p := range ps {
			wanted[key{topic, p}] = true
		}
	}
	found := make(map[key][]node)
	var maxID uint64
	for _, row := range res.Bindings {
		nodeIRI := row["n"].Value()
		partition, err1 := strconv.ParseInt(row["partition"].Value(), 10, 32)
		offset, err2 := strconv.ParseInt(row["offset"].Value(), 10, 64)
		id, err3 := strconv.ParseUint(row["cp"].Value(), 10, 64)
		if !row["topic"].IsLiteral() || !row["job"].IsLiteral() || err1 != nil || err2 != nil || err3 != nil || offset < 0 {
			return nil, fmt.Errorf("%w: malformed commit node %s (topic %s, partition %s, offset %s, checkpoint %s, job %s)",
				streamkit.ErrInvalidCommitPoint, nodeIRI, row["topic"], row["partition"], row["offset"], row["cp"], row["job"])
		}
		k := key{row["topic"].Value(), int32(partition)}
		if !wanted[k] || nodeIRI != b.partitionNodePrefix(k.topic, k.partition)+strconv.FormatUint(id, 10) {
			// The query matched the node by the name of a wanted partition
			// (names cannot collide: topics are escaped, "/cp/" ends the
			// partition), so name and content disagree: not ours to trust.
			return nil, fmt.Errorf("%w: commit node %s holds %s/%d checkpoint %d", streamkit.ErrInvalidCommitPoint, nodeIRI, k.topic, k.partition, id)
		}
		nd := node{job: row["job"].Value(), id: id, offset: offset}
		dup := false
		for _, have := range found[k] {
			if have.id == nd.id {
				if have != nd {
					return nil, fmt.Errorf("%w: %s/%d checkpoint %d has two values (job %q offset %d, job %q offset %d)",
						streamkit.ErrInvalidCommitPoint, k.topic, k.partition, id, have.job, have.offset, nd.job, nd.offset)
				}
				dup = true
			}
		}
		if !dup {
			found[k] = append(found[k], nd)
		}
		maxID = max(maxID, id)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w for %d partition(s)", streamkit.ErrNoCommitPoint, n)
	}
	cp := &streamkit.CommitPoint{CheckpointID: maxID}
	stale := 0
	for k, nodes := range found {
		var pick *node
		for i := range nodes {
			if nodes[i].id == maxID {
				pick = &nodes[i]
			}
		}
		if pick == nil {
			// Partitions committed by different checkpoints: a store that is
			// not atomic applied part of a request, or two writers shared
			// the partitions. Either way no single checkpoint matches.
			ids := make([]string, 0, len(nodes))
			for _, nd := range nodes {
				ids = append(ids, strconv.FormatUint(nd.id, 10))
			}
			return nil, fmt.Errorf("%w: %s/%d was last committed by checkpoint %s, other partitions by checkpoint %d",
				streamkit.ErrInvalidCommitPoint, k.topic, k.partition, strings.Join(ids, " and "), maxID)
		}
		stale += len(nodes) - 1
		if cp.Job == "" {
			cp.Job = pick.job
		} else if cp.Job != pick.job {
			return nil, fmt.Errorf("%w: partitions name jobs %q and %q", streamkit.ErrInvalidCommitPoint, cp.Job, pick.job)
		}
		if cp.Positions == nil {
			cp.Positions = source.Positions{}
		}
		cp.Positions[source.TopicPartition{Topic: k.topic, Partition: k.partition}] = pick.offset
	}
	if stale > 0 {
		// Every partition has the newest checkpoint's node, so its INSERT
		// DATA landed (and, the operations running in order, the data
		// before it); only the deletion of older nodes did not. The next
		// commit removes them.
		warn("sparql: SPARQL store holds commit nodes of older checkpoints next to the newest; "+
			"a non-atomic store applied part of a commit request (resuming from the newest, which landed whole)",
			"checkpoint", maxID, "stale_nodes", stale)
	}
	if err := cp.Validate(); err != nil {
		return nil, err
	}
	return cp, nil
}

// writePrefixFilter writes the body of a FILTER that holds for the nodes ?n
// under prefix(topic, partition) of any of partitions, and reports whether
// there was one.
func writePrefixFilter(sb *strings.Builder, partitions source.Partitions, prefix func(string, int32) string) bool {
	wrote := false
	for _, topic := range sortedKeys(partitions) {
		for _, p := range partitions[topic] {
			if wrote {
				sb.WriteString(" || ")
			}
			wrote = true
			sb.WriteString("STRSTARTS(STR(?n), ")
			sb.Write(appendSPARQLString(nil, prefix(topic, p)))
			sb.WriteString(")")
		}
	}
	return wrote
}
