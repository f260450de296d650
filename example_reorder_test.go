package streamkit_test

import (
	"errors"
	"fmt"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
)

// A processor puts the edits of each entity back in order: it Adds events as
// they arrive and releases them from its OnWatermark (see
// streamkit.WatermarkHandler), returning the buffer's Tables from its own so
// that a restart resumes exactly.
func ExampleReorderBuffer() {
	buf, err := streamkit.NewReorderBuffer[string, string]("edits", time.Minute)
	if err != nil {
		panic(err)
	}
	base := time.Date(2024, 10, 4, 15, 0, 0, 0, time.UTC)
	add := func(entity string, sec int, rev int64) {
		err := buf.Add(entity, streamkit.ReorderEvent[string]{Time: base.Add(time.Duration(sec) * time.Second), Seq: rev, Value: fmt.Sprintf("%s@%d", entity, rev)})
		var late *streamkit.LateEventError
		if errors.As(err, &late) {
			fmt.Println("late, to the side output:", entity, rev)
		}
	}
	release := func(entity string, ev streamkit.ReorderEvent[string]) error {
		fmt.Println("apply", ev.Value)
		return nil
	}
	// Revisions of Q42 arrive out of order (two data centers).
	add("Q42", 20, 3)
	add("Q42", 10, 2)
	add("Q1", 15, 7)
	add("Q42", 5, 1)
	// The watermark reaches 1:16: everything up to 0:16 is due.
	_ = buf.OnWatermark(base.Add(76*time.Second), release)
	// Revision 2 again, after revision 2 was released: late.
	add("Q42", 10, 2)
	_ = buf.OnWatermark(base.Add(time.Hour), release)
	// Output:
	// apply Q42@1
	// apply Q42@2
	// apply Q1@7
	// late, to the side output: Q42 2
	// apply Q42@3
}
