package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// ECSVersion is the version of the Elastic Common Schema that the records
// of an ECSHandler declare in ecs.version.
const ECSVersion = "1.11.0"

// ECSHandler is a slog.Handler that writes each record as one line of JSON
// in the Elastic Common Schema (ECS), for logging pipelines that index ECS
// fields. A record becomes
//
//	{"@timestamp":"2026-01-25T14:00:00.000Z","log.level":"warn","message":"…",
//	 "ecs.version":"1.11.0","service.name":"wdqs-updater","labels.job":"wdqs-updater",…}
//
// with, in this order: @timestamp (UTC, milliseconds; omitted for a zero
// time), log.level (slog's level in lower case: "debug", "info", "warn",
// "error", "info+2"), message, ecs.version, service.name, and with
// HandlerOptions.AddSource log.origin.file.name, log.origin.file.line and
// log.origin.function. Then the attributes:
//
//   - "error" or "err" becomes error.message, and error.type (the Go type)
//     when the value is an error;
//   - a key with a dot ("url.path", "event.duration") is taken for an ECS
//     field name and keeps its JSON type, unless it is one of the fields
//     above, which the handler writes itself;
//   - any other attribute is a label: labels.<key>, so job, task, topic,
//     partition and offset become labels.job … labels.offset. ECS stores
//     labels as keywords, so their values are written as strings
//     ("partition":"0"), times in RFC 3339 and durations as "1.5s".
//
// Attributes in groups (WithGroup, slog.Group) are labels named by the
// group path joined with "_": logger.WithGroup("sink").Info("", "batch",
// 3) gives "labels.sink_batch":"3", as ECS label names hold no dots;
// characters other than letters, digits, "_" and "-" become "_". When two
// attributes map to the same field the last one wins, so that a line never
// holds a key twice (which Elasticsearch refuses). An empty group is
// dropped, as is an attribute with an empty key.
//
// HandlerOptions.ReplaceAttr sees slog's names (slog.TimeKey, LevelKey,
// MessageKey, SourceKey, and the attribute keys with their groups) before
// the mapping, as with slog's own handlers: a test can fix the time there.
type ECSHandler struct {
	w       io.Writer
	mu      *sync.Mutex
	service string
	opts    slog.HandlerOptions
	attrs   []ecsField // from WithAttrs, already mapped
	groups  []string   // open groups, from WithGroup
}

// ecsField is one output field: its ECS name and its value as JSON.
type ecsField struct {
	name string
	json []byte
}

// NewECSHandler returns a handler writing ECS JSON lines to w for the
// service named service (service.name). opts may be nil: level Info, no
// source, no ReplaceAttr. Writes to w are serialized.
func NewECSHandler(w io.Writer, service string, opts *slog.HandlerOptions) *ECSHandler {
	h := &ECSHandler{w: w, mu: &sync.Mutex{}, service: service}
	if opts != nil {
		h.opts = *opts
	}
	return h
}

// Enabled reports whether level is at or above the handler's level.
func (h *ECSHandler) Enabled(_ context.Context, level slog.Level) bool {
	least := slog.LevelInfo
	if h.opts.Level != nil {
		least = h.opts.Level.Level()
	}
	return level >= least
}

// WithAttrs returns a handler that adds attrs, in the current groups, to
// every record.
func (h *ECSHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.attrs = slices.Clip(h.attrs)
	for _, a := range attrs {
		h2.attrs = h2.appendAttr(h2.attrs, h.groups, a)
	}
	return &h2
}

// WithGroup returns a handler that puts later attributes in the group
// name (see ECSHandler for how groups are named).
func (h *ECSHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clip(h.groups), name)
	return &h2
}

// Handle writes r as one JSON line.
func (h *ECSHandler) Handle(_ context.Context, r slog.Record) error {
	fields := make([]ecsField, 0, 8+len(h.attrs)+r.NumAttrs())
	if !r.Time.IsZero() {
		if a, ok := h.builtin(slog.Time(slog.TimeKey, r.Time)); ok {
			v := any(a.Value.String())
			if a.Value.Kind() == slog.KindTime {
				v = a.Value.Time().UTC().Format("2006-01-02T15:04:05.000Z07:00")
			}
			fields = append(fields, ecsField{"@timestamp", jsonValue(v)})
		}
	}
	if a, ok := h.builtin(slog.Any(slog.LevelKey, r.Level)); ok {
		fields = append(fields, ecsField{"log.level", jsonValue(strings.ToLower(a.Value.String()))})
	}
	if a, ok := h.builtin(slog.String(slog.MessageKey, r.Message)); ok {
		fields = append(fields, ecsField{"message", jsonValue(a.Value.String())})
	}
	fields = append(fields, ecsField{"ecs.version", jsonValue(ECSVersion)},
		ecsField{"service.name", jsonValue(h.service)})
	if h.opts.AddSource && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		if a, ok := h.builtin(slog.Any(slog.SourceKey, &slog.Source{Function: f.Function, File: f.File, Line: f.Line})); ok {
			if src, isSrc := a.Value.Any().(*slog.Source); isSrc {
				fields = append(fields, ecsField{"log.origin.file.name", jsonValue(src.File)},
					ecsField{"log.origin.file.line", jsonValue(src.Line)},
					ecsField{"log.origin.function", jsonValue(src.Function)})
			}
		}
	}
	attrs := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = h.appendAttr(attrs, h.groups, a)
		return true
	})
	fields = append(fields, dedupe(attrs)...)

	buf := make([]byte, 0, 256)
	buf = append(buf, '{')
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, jsonValue(f.name)...)
		buf = append(buf, ':')
		buf = append(buf, f.json...)
	}
	buf = append(buf, '}', '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

// builtin passes one of the record's own fields through ReplaceAttr; ok is
// false when ReplaceAttr drops it.
func (h *ECSHandler) builtin(a slog.Attr) (slog.Attr, bool) {
	if h.opts.ReplaceAttr == nil {
		return a, true
	}
	a = h.opts.ReplaceAttr(nil, a)
	a.Value = a.Value.Resolve()
	return a, a.Key != ""
}

// ecsReserved are the fields the handler writes itself: an attribute that
// maps to one of them becomes a label instead.
var ecsReserved = map[string]bool{"@timestamp": true, "log.level": true, "message": true, "ecs.version": true,
	"service.name": true, "log.origin.file.name": true, "log.origin.file.line": true, "log.origin.function": true}

// appendAttr maps one attribute (a group: each of its members) to fields.
func (h *ECSHandler) appendAttr(dst []ecsField, groups []string, a slog.Attr) []ecsField {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() != slog.KindGroup && h.opts.ReplaceAttr != nil {
		a = h.opts.ReplaceAttr(groups, a)
		a.Value = a.Value.Resolve()
	}
	if a.Value.Kind() == slog.KindGroup {
		members := a.Value.Group()
		if len(members) == 0 {
			return dst
		}
		if a.Key != "" {
			groups = append(slices.Clip(groups), a.Key)
		}
		for _, m := range members {
			dst = h.appendAttr(dst, groups, m)
		}
		return dst
	}
	if a.Key == "" {
		return dst
	}
	if len(groups) == 0 {
		switch {
		case a.Key == "error" || a.Key == "err":
			dst = append(dst, ecsField{"error.message", jsonValue(labelString(a.Value))})
			if err, ok := a.Value.Any().(error); ok && a.Value.Kind() == slog.KindAny {
				dst = append(dst, ecsField{"error.type", jsonValue(fmt.Sprintf("%T", err))})
			}
			return dst
		case strings.Contains(a.Key, ".") && !ecsReserved[a.Key]:
			return append(dst, ecsField{a.Key, jsonValue(nativeValue(a.Value))})
		}
	}
	name := strings.Join(append(slices.Clip(groups), a.Key), "_")
	return append(dst, ecsField{"labels." + labelName(name), jsonValue(labelString(a.Value))})
}

// labelName replaces the characters ECS label names should not hold.
func labelName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

// labelString is a label's value: a keyword.
func labelString(v slog.Value) string {
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
	}
	return v.String()
}

// nativeValue is the value of an ECS field, with its JSON type.
func nativeValue(v slog.Value) any {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindInt64:
		return v.Int64()
	case slog.KindUint64:
		return v.Uint64()
	case slog.KindFloat64:
		return v.Float64()
	case slog.KindBool:
		return v.Bool()
	case slog.KindDuration:
		return v.Duration().Nanoseconds() // ECS durations (event.duration) are nanoseconds
	case slog.KindTime:
		return v.Time().UTC().Format(time.RFC3339Nano)
	}
	if err, ok := v.Any().(error); ok {
		return err.Error()
	}
	return v.Any()
}

// dedupe keeps the last value of each field name, at its first position.
func dedupe(fields []ecsField) []ecsField {
	last := make(map[string]int, len(fields))
	for i, f := range fields {
		last[f.name] = i
	}
	if len(last) == len(fields) {
		return fields
	}
	out := make([]ecsField, 0, len(last))
	seen := make(map[string]bool, len(last))
	for _, f := range fields {
		if seen[f.name] {
			continue
		}
		seen[f.name] = true
		out = append(out, ecsField{f.name, fields[last[f.name]].json})
	}
	return out
}

// jsonValue encodes v as JSON without HTML escaping; a value that does not
// encode (a NaN, a channel) is written as its fmt string.
func jsonValue(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		b.Reset()
		_ = enc.Encode(fmt.Sprint(v))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

var _ slog.Handler = (*ECSHandler)(nil)
