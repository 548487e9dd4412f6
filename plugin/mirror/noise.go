package mirror

import (
	"strconv"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/diff"
)

// Noise cancellation (SPEC.md, "Noise"), as Diffy does it inside the mesh: a target's
// baseline copies to a second instance of the primary's version, so what the baseline
// answers differently from the primary is noise: timestamps, ids, random order. On a
// request copied to both, a difference of the target where the baseline differs too is
// noise; on one the baseline did not answer, a difference is noise where the baseline
// has often differed lately and the target does not differ much more often.

// The noise a target learns from its baseline's pairs.
const (
	// maxNoisePlaces is the most places a target keeps counts for; the least recently
	// seen gives way.
	maxNoisePlaces = 64
	// noiseWindow is how many baseline pairs the counts are about: when the baseline
	// has counted that many, every count is halved.
	noiseWindow = 1000
	// A place is learned as noise when the baseline differed there in at least
	// noiseMinCount and noiseMinPercent of its pairs.
	noiseMinCount   = 2
	noiseMinPercent = 1
	// noiseRatio is how many times as often as the baseline the target may differ at
	// a place that is noise.
	noiseRatio = 2
)

// baseline states of a pair of a baseline target, for the pairs waiting on it.
const (
	basePending uint8 = iota
	baseCompared
	baseNotCompared
)

// noiseTable holds, for one target and worker, how often its baseline and it differed
// from the primary at each place: at most maxNoisePlaces places, about 7 KiB.
type noiseTable struct {
	places         [maxNoisePlaces]noisePlace
	n              int
	baselinePairs  uint32 // the baseline's compared pairs, decayed as the counts are
	targetPairs    uint32 // the target's compared pairs, decayed alike
	clock          uint32
	baselineRounds uint32 // baseline pairs since the last halving
}

type noisePlace struct {
	sum              uint64
	baseline, target uint32
	seen             uint32 // the clock when it was last counted
	learned          bool   // whether it counted as noise when last told
	name             string // the place as logs show it, indexes written #
}

// find returns the place's entry, or nil.
func (t *noiseTable) find(sum uint64) *noisePlace {
	for i := range t.places[:t.n] {
		if t.places[i].sum == sum {
			return &t.places[i]
		}
	}
	return nil
}

// entry returns the place's entry, making one for d (in place of the least recently
// seen when the table is full).
func (t *noiseTable) entry(d *diff.Difference) *noisePlace {
	if e := t.find(d.Hash); e != nil {
		return e
	}
	i := t.n
	if t.n < maxNoisePlaces {
		t.n++
	} else {
		i = 0
		for j := 1; j < maxNoisePlaces; j++ {
			if t.places[j].seen < t.places[i].seen {
				i = j
			}
		}
	}
	t.places[i] = noisePlace{sum: d.Hash, name: patternOf(d)}
	return &t.places[i]
}

// count counts a pair's differences against the places they are at, once a place.
func (t *noiseTable) count(diffs []diff.Difference, baseline bool) {
	t.clock++
	for i := range diffs {
		if seenBefore(diffs[:i], diffs[i].Hash) {
			continue
		}
		e := t.entry(&diffs[i])
		e.seen = t.clock
		if baseline {
			e.baseline++
		} else {
			e.target++
		}
	}
	if !baseline {
		t.targetPairs++
		return
	}
	t.baselinePairs++
	if t.baselineRounds++; t.baselineRounds >= noiseWindow/2 {
		// Halving every half window keeps the counts about the last window or so.
		t.baselineRounds = 0
		t.baselinePairs, t.targetPairs = t.baselinePairs/2, t.targetPairs/2
		for i := range t.places[:t.n] {
			t.places[i].baseline /= 2
			t.places[i].target /= 2
		}
	}
}

func seenBefore(diffs []diff.Difference, place uint64) bool {
	for i := range diffs {
		if diffs[i].Hash == place {
			return true
		}
	}
	return false
}

// noise reports whether a difference at the place is noise by what was learned: the
// baseline differed there in at least noiseMinCount and noiseMinPercent of its pairs,
// and the target not more than noiseRatio times as often.
func (t *noiseTable) noise(place uint64) bool {
	e := t.find(place)
	if e == nil || t.baselinePairs == 0 {
		return false
	}
	b, n := uint64(e.baseline), uint64(t.baselinePairs)
	return b >= noiseMinCount && b*100 >= noiseMinPercent*n &&
		uint64(e.target)*n <= noiseRatio*b*uint64(max(t.targetPairs, 1))
}

// patternOf is a difference's place as logs show noise: array indexes written #. A
// key made only of digits reads as an index here; the place's hash tells them apart.
func patternOf(d *diff.Difference) string {
	if d.Part != diff.PartBody || d.Where == "" {
		return diff.Cut(d.Place())
	}
	segs := strings.Split(d.Where, ".")
	for i, s := range segs {
		if _, err := strconv.Atoi(s); err == nil && s != "" && s[0] != '-' && s[0] != '+' {
			segs[i] = "#"
		}
	}
	return diff.Cut("body " + strings.Join(segs, "."))
}

// linkBaselines links each pair of a request whose target has a baseline to the
// baseline's pair of the same request, if it has one.
func (m *Mirror) linkBaselines(r *primaryResponse) {
	for _, p := range r.pairs[:r.n] {
		b := m.cfg.Targets[p.target].Compare.Baseline
		if b < 0 {
			continue
		}
		for _, q := range r.pairs[:r.n] {
			if q.target == b {
				p.base = q
			}
		}
	}
}

// baselineDecided records a decided pair of a baseline target: its places teach each
// target it is the baseline of, and the pairs of the same request waiting on it are
// concluded.
func (m *Mirror) baselineDecided(b *Pair, diffs []diff.Difference) {
	b.baseState = baseCompared
	b.basePlaces = make([]uint64, len(diffs))
	for i := range diffs {
		b.basePlaces[i] = diffs[i].Hash
	}
	for _, t := range m.targets[b.target].dependents {
		m.targets[t].noise.count(diffs, true)
	}
}

// resolveWaiting concludes the pairs that waited for the baseline's pair b, now
// decided or skipped.
func (m *Mirror) resolveWaiting(b *Pair, now int64) {
	for i := 0; i < len(m.waiting); {
		p := m.waiting[i]
		if p.base != b {
			i++
			continue
		}
		last := len(m.waiting) - 1
		m.waiting[i] = m.waiting[last]
		m.waiting[last] = nil
		m.waiting = m.waiting[:last]
		diffs := p.diffs
		p.diffs, p.waiting = nil, false
		m.conclude(p, diffs, now)
	}
}

// Notices returns what the mirror has learned since the last call that an operator
// should hear of (a place that now counts as noise, or no longer does), and forgets
// them.
func (m *Mirror) Notices() []string {
	n := m.notices
	m.notices = nil
	return n
}

// markNoise marks the differences of target's pair p that are noise: by its baseline's
// pair of the same request when that was compared, else by what was learned.
func (m *Mirror) markNoise(target int, p *Pair, diffs []diff.Difference) {
	t := m.targets[target].noise
	perRequest := p.base != nil && p.base.baseState == baseCompared
	for i := range diffs {
		d := &diffs[i]
		if perRequest {
			d.Noise = seenPlace(p.base.basePlaces, d.Hash)
			continue
		}
		d.Noise = t.noise(d.Hash)
		if e := t.find(d.Hash); e != nil && e.learned != d.Noise {
			e.learned = d.Noise
			if d.Noise {
				m.notices = append(m.notices, "meshmirror: target "+m.cfg.Targets[target].Name+": "+e.name+
					" now counts as noise: the baseline differed there in "+strconv.Itoa(int(e.baseline))+
					" of its last "+strconv.Itoa(int(t.baselinePairs))+" pairs")
			}
		}
	}
	t.count(diffs, false)
}

func seenPlace(places []uint64, place uint64) bool {
	for _, p := range places {
		if p == place {
			return true
		}
	}
	return false
}
