package streamkit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// OffsetMetadataPrefix starts the metadata the Kafka sink attaches to every
// offset it commits, so that a reader can tell streamkit's commit points
// from offsets committed by other tools.
const OffsetMetadataPrefix = "streamkit:"

// FormatOffsetMetadata returns the offset metadata that names a commit
// point: "streamkit:chk=<checkpoint ID>;job=<job, URL query escaped>", for
// example "streamkit:chk=42;job=wdqs-updater". Kafka.Commit attaches it to
// each offset, so the consumer group's committed offsets alone say which
// checkpoint they belong to.
func FormatOffsetMetadata(job string, checkpointID uint64) string {
	return OffsetMetadataPrefix + "chk=" + strconv.FormatUint(checkpointID, 10) + ";job=" + url.QueryEscape(job)
}

// ParseOffsetMetadata reads back what FormatOffsetMetadata wrote. It returns
// an error matching ErrInvalidCommitPoint for any other string.
func ParseOffsetMetadata(meta string) (job string, checkpointID uint64, err error) {
	rest, ok := strings.CutPrefix(meta, OffsetMetadataPrefix)
	if !ok {
		return "", 0, fmt.Errorf("%w: offset metadata %q was not written by streamkit", ErrInvalidCommitPoint, meta)
	}
	chk, jobPart, ok := strings.Cut(rest, ";")
	idText, ok1 := strings.CutPrefix(chk, "chk=")
	jobText, ok2 := strings.CutPrefix(jobPart, "job=")
	if !ok || !ok1 || !ok2 {
		return "", 0, fmt.Errorf("%w: offset metadata %q is not \"streamkit:chk=<n>;job=<name>\"", ErrInvalidCommitPoint, meta)
	}
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("%w: offset metadata %q: checkpoint ID: %w", ErrInvalidCommitPoint, meta, err)
	}
	job, err = url.QueryUnescape(jobText)
	if err != nil || job == "" {
		return "", 0, fmt.Errorf("%w: offset metadata %q: bad job name", ErrInvalidCommitPoint, meta)
	}
	return job, id, nil
}

// ReadKafkaCommitPoint reads the commit point a job last committed through
// Kafka.Commit: group's committed offsets for every partition of topics,
// and the job and checkpoint ID from their metadata. A restarting job calls
// it to learn N (load snapshot N, seek to the positions).
//
// It asks for stable offsets (KIP-447), so an offset commit inside a
// transaction still being decided is waited for, not returned half-done.
// Partitions with no committed offset are left out (new partitions, or a
// topic never read). It returns ErrNoCommitPoint if none of the partitions
// has a committed offset, and an error matching ErrInvalidCommitPoint if an
// offset has metadata streamkit did not write, or if the partitions name
// different jobs or checkpoints — a group shared by two jobs, or offsets
// committed outside the sink — which a restore must not paper over.
func ReadKafkaCommitPoint(ctx context.Context, client sarama.Client, group string, topics []string) (*CommitPoint, error) {
	if group == "" {
		return nil, errors.New("streamkit: read kafka commit point: empty consumer group")
	}
	if len(topics) == 0 {
		return nil, errors.New("streamkit: read kafka commit point: no topics")
	}
	parts := make(source.Partitions, len(topics))
	for _, t := range topics {
		ps, err := client.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("streamkit: read kafka commit point: partitions of %q: %w", t, err)
		}
		parts[t] = ps
	}
	return ReadKafkaCommitPointOf(ctx, client, group, parts)
}

// ReadKafkaCommitPointOf is ReadKafkaCommitPoint for the listed partitions
// only (topic to partition numbers): the commit point of one task of a job
// whose tasks commit separately, each in its own transaction, so that
// different tasks may name different checkpoints.
func ReadKafkaCommitPointOf(ctx context.Context, client sarama.Client, group string, parts source.Partitions) (*CommitPoint, error) {
	if group == "" {
		return nil, errors.New("streamkit: read kafka commit point: empty consumer group")
	}
	if len(parts) == 0 {
		return nil, errors.New("streamkit: read kafka commit point: no partitions")
	}
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	var resp *sarama.OffsetFetchResponse
	for attempt := 0; ; attempt++ {
		var err error
		resp, err = fetchOffsets(client, group, parts)
		if err == nil {
			break
		}
		if errors.Is(err, sarama.ErrGroupIDNotFound) {
			return nil, fmt.Errorf("%w: group %q does not exist", ErrNoCommitPoint, group)
		}
		retriable := errors.Is(err, sarama.ErrUnstableOffsetCommit) || errors.Is(err, sarama.ErrNotCoordinatorForConsumer) ||
			errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) || errors.Is(err, sarama.ErrOffsetsLoadInProgress)
		if !retriable || attempt >= 100 {
			return nil, fmt.Errorf("streamkit: read kafka commit point of group %q: %w", group, err)
		}
		if errors.Is(err, sarama.ErrNotCoordinatorForConsumer) || errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) {
			_ = client.RefreshCoordinator(group)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, fmt.Errorf("streamkit: read kafka commit point of group %q: %w (last: %w)", group, ctx.Err(), err)
		}
	}
	cp := &CommitPoint{Positions: source.Positions{}}
	first := ""
	for _, t := range topics {
		for _, p := range parts[t] {
			b := resp.GetBlock(t, p)
			if b == nil || b.Offset < 0 {
				continue
			}
			if b.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("streamkit: read kafka commit point: %s/%d: %w", t, p, b.Err)
			}
			job, id, err := ParseOffsetMetadata(b.Metadata)
			if err != nil {
				return nil, fmt.Errorf("streamkit: read kafka commit point: %s/%d: %w", t, p, err)
			}
			where := fmt.Sprintf("%s/%d", t, p)
			if first == "" {
				first, cp.Job, cp.CheckpointID = where, job, id
			} else if job != cp.Job || id != cp.CheckpointID {
				return nil, fmt.Errorf("%w: group %q: %s names job %q checkpoint %d, but %s names job %q checkpoint %d",
					ErrInvalidCommitPoint, group, first, cp.Job, cp.CheckpointID, where, job, id)
			}
			cp.Positions[source.TopicPartition{Topic: t, Partition: p}] = b.Offset
		}
	}
	if first == "" {
		return nil, fmt.Errorf("%w: group %q has no committed offsets for %v", ErrNoCommitPoint, group, topics)
	}
	return cp, nil
}

func fetchOffsets(client sarama.Client, group string, parts source.Partitions) (*sarama.OffsetFetchResponse, error) {
	coord, err := client.Coordinator(group)
	if err != nil {
		return nil, err
	}
	req := sarama.NewOffsetFetchRequest(client.Config().Version, group, parts)
	if req.Version >= 7 {
		req.RequireStable = true
	}
	resp, err := coord.FetchOffset(req)
	if err != nil {
		return nil, err
	}
	if resp.Err != sarama.ErrNoError {
		return nil, resp.Err
	}
	for _, ps := range resp.Blocks {
		for _, b := range ps {
			if b.Err == sarama.ErrUnstableOffsetCommit {
				return nil, b.Err
			}
		}
	}
	if resp.Version >= 8 {
		for _, g := range resp.Groups {
			for _, ps := range g.Blocks {
				for _, b := range ps {
					if b.Err == sarama.ErrUnstableOffsetCommit {
						return nil, b.Err
					}
				}
			}
		}
	}
	return resp, nil
}
