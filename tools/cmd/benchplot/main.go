// Command benchplot draws the fault-latency distributions of a
// `vmspace bench --json` report: one panel per engine, one line per churn,
// latency against percentile on log scales (the HdrHistogram style, which
// shows the median and the far tail in one picture).
//
//	vmspace bench --json | (cd tools && go run ./cmd/benchplot -o latency.png)
//	go run ./cmd/benchplot -in report.json -o latency.svg
//
// It lives in the tools module so that gonum.org/v1/plot and its
// dependencies stay out of the library's go.mod; `vmspace bench --plot FILE`
// runs it this way.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	in := flag.String("in", "-", "the report (`vmspace bench --json` output); - for standard input")
	out := flag.String("o", "latency.png", "output `file`: .png or .svg")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	var r io.Reader = os.Stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var rep report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return fmt.Errorf("reading the report: %w", err)
	}
	if len(rep.Results) == 0 {
		return fmt.Errorf("the report has no results")
	}
	return drawReport(&rep, out)
}
