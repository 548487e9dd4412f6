package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Charts are drawn as SVG by hand: two kinds, a few hundred lines of output each, and
// no plotting dependency.

const (
	chartWidth, chartHeight                = 760, 400
	marginLeft, marginRight                = 80, 20
	marginTop, marginBottom                = 40, 70
	plotWidth                              = chartWidth - marginLeft - marginRight
	plotHeight                             = chartHeight - marginTop - marginBottom
	fontStyle                              = `font-family="sans-serif" font-size="12"`
	axisColor, gridColor, textColor, title = "#333", "#ddd", "#222", 15
)

// Palette colors series in order.
var Palette = []string{"#d62728", "#7f7f7f", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"}

// Series is a named line of (x, y) points.
type Series struct {
	Name   string
	Points [][2]float64
	// Dashed draws the line dashed, for a reference drawn under another.
	Dashed bool
	// Color defaults to the Palette entry of the series' index.
	Color string
}

type svg struct{ strings.Builder }

func newSVG(heading string) *svg {
	s := &svg{}
	fmt.Fprintf(s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>`+"\n",
		chartWidth, chartHeight, chartWidth, chartHeight, fontStyle)
	fmt.Fprintf(s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(s, `<text x="%d" y="24" font-size="%d" font-weight="bold" fill="%s">%s</text>`+"\n",
		marginLeft, title, textColor, html.EscapeString(heading))
	return s
}

func (s *svg) text(x, y float64, anchor, str string, extra ...string) {
	fmt.Fprintf(s, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s" %s>%s</text>`+"\n",
		x, y, anchor, textColor, strings.Join(extra, " "), html.EscapeString(str))
}

func (s *svg) line(x1, y1, x2, y2 float64, color string, width float64) {
	fmt.Fprintf(s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"/>`+"\n",
		x1, y1, x2, y2, color, width)
}

func (s *svg) end() []byte {
	s.WriteString("</svg>\n")
	return []byte(s.String())
}

// niceTicks returns about n round tick values from 0 up to at least max.
func niceTicks(max float64, n int) []float64 {
	if max <= 0 {
		max = 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for v := 0.0; v < max+step/2; v += step {
		ticks = append(ticks, v)
	}
	if ticks[len(ticks)-1] < max {
		ticks = append(ticks, ticks[len(ticks)-1]+step)
	}
	return ticks
}

// yAxis draws horizontal grid lines and labels for ticks and returns the function
// that maps a value to a y coordinate.
func (s *svg) yAxis(ticks []float64, label string, format func(float64) string) func(float64) float64 {
	top := ticks[len(ticks)-1]
	y := func(v float64) float64 { return marginTop + plotHeight*(1-v/top) }
	for _, t := range ticks {
		s.line(marginLeft, y(t), marginLeft+plotWidth, y(t), gridColor, 1)
		s.text(marginLeft-6, y(t)+4, "end", format(t))
	}
	s.line(marginLeft, marginTop, marginLeft, marginTop+plotHeight, axisColor, 1)
	s.line(marginLeft, marginTop+plotHeight, marginLeft+plotWidth, marginTop+plotHeight, axisColor, 1)
	s.text(16, marginTop+plotHeight/2, "middle", label,
		fmt.Sprintf(`transform="rotate(-90 16 %.1f)"`, float64(marginTop+plotHeight/2)))
	return y
}

func (s *svg) legend(names, colors []string) {
	x := float64(marginLeft)
	for i, name := range names {
		fmt.Fprintf(s, `<rect x="%.1f" y="%d" width="12" height="12" fill="%s"/>`+"\n",
			x, chartHeight-22, colors[i])
		s.text(x+16, chartHeight-12, "start", name)
		x += 28 + 7.5*float64(len(name))
	}
}

// LineChart draws series against a shared x axis (0 to the largest x) and a y axis
// from 0; xFormat and yFormat label the ticks.
func LineChart(heading, xLabel, yLabel string, series []Series, xFormat, yFormat func(float64) string) []byte {
	s := newSVG(heading)
	var maxX, maxY float64
	for _, sr := range series {
		for _, p := range sr.Points {
			maxX, maxY = math.Max(maxX, p[0]), math.Max(maxY, p[1])
		}
	}
	y := s.yAxis(niceTicks(maxY*1.1, 5), yLabel, yFormat)
	xTicks := niceTicks(maxX, 5)
	right := xTicks[len(xTicks)-1]
	x := func(v float64) float64 { return marginLeft + plotWidth*v/right }
	for _, t := range xTicks {
		s.line(x(t), marginTop+plotHeight, x(t), marginTop+plotHeight+5, axisColor, 1)
		s.text(x(t), marginTop+plotHeight+18, "middle", xFormat(t))
	}
	s.text(marginLeft+plotWidth/2, marginTop+plotHeight+36, "middle", xLabel)
	names, colors := make([]string, len(series)), make([]string, len(series))
	for i, sr := range series {
		names[i], colors[i] = sr.Name, sr.Color
		if colors[i] == "" {
			colors[i] = Palette[i%len(Palette)]
		}
		var pts []string
		for _, p := range sr.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p[0]), y(p[1])))
		}
		dash := ""
		if sr.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(s, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n",
			colors[i], dash, strings.Join(pts, " "))
	}
	s.legend(names, colors)
	return s.end()
}

// BarChart draws groups of bars: values[g][i] is the bar of series i in group g, and
// is printed above it with format.
func BarChart(heading, yLabel string, groups, series []string, values [][]float64, format func(float64) string) []byte {
	s := newSVG(heading)
	var maxY float64
	for _, row := range values {
		for _, v := range row {
			maxY = math.Max(maxY, v)
		}
	}
	y := s.yAxis(niceTicks(maxY, 5), yLabel, format)
	groupWidth := float64(plotWidth) / float64(len(groups))
	barWidth := groupWidth * 0.8 / float64(len(series))
	for g, group := range groups {
		left := marginLeft + groupWidth*float64(g) + groupWidth*0.1
		for i, v := range values[g] {
			bx := left + barWidth*float64(i)
			fmt.Fprintf(s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n",
				bx, y(v), barWidth-2, y(0)-y(v), Palette[i%len(Palette)])
			s.text(bx+barWidth/2-1, y(v)-3, "middle", format(v), `font-size="9"`)
		}
		s.text(left+groupWidth*0.4, marginTop+plotHeight+18, "middle", group)
	}
	colors := make([]string, len(series))
	for i := range series {
		colors[i] = Palette[i%len(Palette)]
	}
	s.legend(series, colors)
	return s.end()
}
