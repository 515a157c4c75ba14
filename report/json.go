package report

import (
	"encoding/json"
	"io"
	"sync"
)

// JSON writes one event per line.
type JSON struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSON returns a JSON Lines sink writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{enc: json.NewEncoder(w)} }

// Emit implements Sink.
func (j *JSON) Emit(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e.V = SchemaVersion
	_ = j.enc.Encode(e)
}
