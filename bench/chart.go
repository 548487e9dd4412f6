package bench

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The charts of BENCHMARKS.md, drawn with gonum.org/v1/plot and written as SVG.

// Palette colors series in order.
var Palette = []color.Color{
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff}, color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff},
}

// Series is a named line of (x, y) points.
type Series struct {
	Name   string
	Points [][2]float64
	// Dashed draws the line dashed, for a reference drawn under another.
	Dashed bool
	// Color defaults to the Palette entry of the series' index.
	Color color.Color
}

// ticks labels the default ticks of an axis with format.
func ticks(format func(float64) string) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ts := plot.DefaultTicks{}.Ticks(lo, hi)
		for i := range ts {
			if ts[i].Label != "" {
				ts[i].Label = format(ts[i].Value)
			}
		}
		return ts
	})
}

func svg(p *plot.Plot, width, height vg.Length) ([]byte, error) {
	w, err := p.WriterTo(width, height, "svg")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// LineChart draws series against a shared x axis and a y axis from 0; xFormat and
// yFormat label the ticks.
func LineChart(heading, xLabel, yLabel string, series []Series, xFormat, yFormat func(float64) string) ([]byte, error) {
	p := plot.New()
	p.Title.Text = heading
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	p.X.Tick.Marker, p.Y.Tick.Marker = ticks(xFormat), ticks(yFormat)
	p.X.Min, p.Y.Min = 0, 0
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	for i, s := range series {
		xys := make(plotter.XYs, len(s.Points))
		for j, pt := range s.Points {
			xys[j].X, xys[j].Y = pt[0], pt[1]
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("series %s: %w", s.Name, err)
		}
		l.Color = s.Color
		if l.Color == nil {
			l.Color = Palette[i%len(Palette)]
		}
		l.Width = vg.Points(2)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		}
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	// Room above the highest point for the legend.
	p.Y.Max *= 1.15
	return svg(p, 8*vg.Inch, 4.2*vg.Inch)
}

// BarChart draws groups of bars: values[g][i] is the bar of series i in group g, and
// is printed above it with format.
func BarChart(heading, yLabel string, groups, series []string, values [][]float64, format func(float64) string) ([]byte, error) {
	p := plot.New()
	p.Title.Text = heading
	p.Y.Label.Text = yLabel
	p.Y.Tick.Marker = ticks(format)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	width := vg.Length(float64(7*vg.Inch) / float64(len(groups)*(len(series)+1)))
	for i, name := range series {
		vals := make(plotter.Values, len(groups))
		labels := plotter.XYLabels{XYs: make(plotter.XYs, len(groups)), Labels: make([]string, len(groups))}
		for g := range groups {
			if i < len(values[g]) {
				vals[g] = values[g][i]
			}
			labels.XYs[g] = plotter.XY{X: float64(g), Y: vals[g]}
			labels.Labels[g] = format(vals[g])
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("series %s: %w", name, err)
		}
		bars.Color = Palette[i%len(Palette)]
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(float64(i)-float64(len(series)-1)/2)
		p.Add(bars)
		p.Legend.Add(name, bars)
		text, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, err
		}
		for j := range text.TextStyle {
			text.TextStyle[j].Font.Size = vg.Points(6)
			text.TextStyle[j].XAlign = draw.XCenter
		}
		text.Offset = vg.Point{X: bars.Offset, Y: vg.Points(2)}
		p.Add(text)
	}
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5 // the outer groups' bars whole
	p.Y.Max *= 1.25                                   // room for the legend and the labels
	return svg(p, 10*vg.Inch, 4.5*vg.Inch)
}
