package report

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/provision-tool/provision/tasks"
)

// JSON writes one event per line.
type JSON struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSON returns a JSON Lines sink writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{enc: json.NewEncoder(w)} }

// Emit implements Sink. The values of sensitive changes are never written.
func (j *JSON) Emit(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e.V = SchemaVersion
	e.Changes = MaskSensitive(e.Changes)
	_ = j.enc.Encode(e)
}

// MaskSensitive returns changes with Before and After of the sensitive ones
// emptied; it copies the slice only when there is something to mask.
func MaskSensitive(changes []tasks.Change) []tasks.Change {
	for i, c := range changes {
		if c.Sensitive && (c.Before != "" || c.After != "") {
			out := append([]tasks.Change(nil), changes...)
			for j := i; j < len(out); j++ {
				if out[j].Sensitive {
					out[j].Before, out[j].After = "", ""
				}
			}
			return out
		}
	}
	return changes
}
