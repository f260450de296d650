package sink

// Position is how far a job has read one input partition: the next offset to read.
type Position struct {
	Topic     string
	Partition int32
	Offset    int64
}

// CommitPoint is what a store-side commit records together with the data, in the same
// atomic write: the job, the checkpoint ID and the source positions after this batch.
type CommitPoint struct {
	Job          string
	CheckpointID uint64
	Positions    []Position
}
