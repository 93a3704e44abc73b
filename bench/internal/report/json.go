package report

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes run as indented JSON: the machine, and for every
// figure its name, unit, grove's summary, the floor's, the ratio and the
// peers; for every curve its X values and series. Ratios that could not
// be taken are null. It blocks on w only.
func WriteJSON(w io.Writer, run *Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(run); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}

// ReadJSON decodes a run written by WriteJSON.
func ReadJSON(r io.Reader) (*Run, error) {
	var run Run
	if err := json.NewDecoder(r).Decode(&run); err != nil {
		return nil, fmt.Errorf("report: json: %w", err)
	}
	return &run, nil
}
