package report

import (
	"testing"

	"github.com/tidwall/gjson"
)

func TestAppendJSONString(t *testing.T) {
	got := string(AppendString(nil, "a\"\\\n\x01é\xff"))
	if want := `"a\"\\\u000a\u0001é\ufffd"`; got != want || !gjson.Valid(got) {
		t.Errorf("AppendJSONString = %s, want %s", got, want)
	}
}
