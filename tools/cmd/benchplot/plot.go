package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// curve turns a histogram into percentile-latency points: for each bucket,
// x = 1/(1-q) where q is the fraction of faults at or below it, y = its
// upper bound. The last bucket (q = 1) is drawn at 1/(1/count), the
// resolution the sample has.
func curve(l latency) plotter.XYs {
	var pts plotter.XYs
	var seen uint64
	for _, b := range l.Buckets {
		seen += b[2]
		q := float64(seen) / float64(l.Count)
		x := float64(l.Count)
		if q < 1 {
			x = 1 / (1 - q)
		}
		pts = append(pts, plotter.XY{X: x, Y: math.Max(float64(b[1]), 1)})
	}
	return pts
}

// drawReport writes one panel per engine side by side, sharing the latency axis
// so that the engines compare at a glance.
func drawReport(rep *report, out string) error {
	var engines []string
	byEngine := map[string][]result{}
	for _, r := range rep.Results {
		if r.Latency.Count == 0 {
			continue
		}
		if _, ok := byEngine[r.Engine]; !ok {
			engines = append(engines, r.Engine)
		}
		byEngine[r.Engine] = append(byEngine[r.Engine], r)
	}
	if len(engines) == 0 {
		return fmt.Errorf("no latencies in the report")
	}
	yMin, yMax, xMax := math.Inf(1), 1.0, 10.0
	plots := [][]*plot.Plot{make([]*plot.Plot, len(engines))}
	for i, e := range engines {
		p := plot.New()
		p.Title.Text = e
		p.X.Label.Text = "percentile"
		p.Y.Label.Text = "fault latency"
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker = percentileTicks{}
		p.Y.Tick.Marker = latencyTicks{}
		p.Add(plotter.NewGrid())
		// Bottom right is the one corner the curves leave empty: they
		// rise to the right.
		p.Legend.Top = false
		p.Legend.Left = false
		for j, r := range byEngine[e] {
			pts := curve(r.Latency)
			for _, pt := range pts {
				yMin, yMax, xMax = math.Min(yMin, pt.Y), math.Max(yMax, pt.Y), math.Max(xMax, pt.X)
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(j)
			l.Dashes = plotutil.Dashes(j / 7)
			l.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(r.Churn, l)
		}
		plots[0][i] = p
	}
	for _, p := range plots[0] {
		p.X.Min, p.X.Max = 1, xMax
		p.Y.Min, p.Y.Max = yMin, yMax
	}
	w, h := vg.Length(len(engines))*5*vg.Inch, 4.5*vg.Inch
	ext := strings.ToLower(filepath.Ext(out))
	switch ext {
	case ".png":
		img := vgimg.New(w, h)
		tile(plots, draw.New(img))
		return write(out, vgimg.PngCanvas{Canvas: img})
	case ".svg":
		img := vgsvg.New(w, h)
		tile(plots, draw.New(img))
		return write(out, img)
	}
	return fmt.Errorf("output %q: want .png or .svg", out)
}

func tile(plots [][]*plot.Plot, dc draw.Canvas) {
	t := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 2,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(plots, t, dc)
	for j := range plots {
		for i, p := range plots[j] {
			p.Draw(canvases[j][i])
		}
	}
}

// write saves a rendered canvas to name.
func write(name string, c io.WriterTo) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
