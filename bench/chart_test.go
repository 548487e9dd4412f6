package bench

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
)

// svgText returns the text of every element of an SVG document, and fails the test
// when it is not well-formed XML.
func svgText(t *testing.T, doc []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var text strings.Builder
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
			text.WriteByte('\n')
		}
	}
	if root != "svg" {
		t.Fatalf("the document's root is <%s>, want <svg>", root)
	}
	return text.String()
}

// TestBarChart draws the cost chart's kind of figure: the title, every group, every
// series and every value label are in the SVG.
func TestBarChart(t *testing.T) {
	doc, err := BarChart("Cost of a request", "µs per request", []string{"nomatch", "copy"},
		[]string{"meshmirror", "F0 no-op"}, [][]float64{{3.5, 1.25}, {11.75, 1.5}},
		ftoa)
	if err != nil {
		t.Fatal(err)
	}
	text := svgText(t, doc)
	for _, want := range []string{"Cost of a request", "µs per request", "nomatch", "copy", "meshmirror", "F0 no-op",
		"3.5", "1.25", "11.75", "1.5"} {
		if !strings.Contains(text, want) {
			t.Errorf("the chart has no text %q", want)
		}
	}
}

// TestLineChart draws the soak chart's kind of figure, one series dashed.
func TestLineChart(t *testing.T) {
	doc, err := LineChart("Linear memory", "requests", "MiB", []Series{
		{Name: "before", Points: [][2]float64{{0, 3}, {1000, 48}}, Dashed: true, Color: Palette[1]},
		{Name: "after", Points: [][2]float64{{0, 3}, {1000, 6}}},
	}, ftoa, ftoa)
	if err != nil {
		t.Fatal(err)
	}
	text := svgText(t, doc)
	for _, want := range []string{"Linear memory", "requests", "MiB", "before", "after"} {
		if !strings.Contains(text, want) {
			t.Errorf("the chart has no text %q", want)
		}
	}
	if !bytes.Contains(doc, []byte("stroke-dasharray")) {
		t.Error("the dashed series is not dashed")
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
