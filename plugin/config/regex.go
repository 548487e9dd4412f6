package config

import (
	"errors"
	"regexp/syntax"

	"github.com/meshmirror/meshmirror/plugin/internal/text"
)

// checkRegexSize refuses a pattern whose compilation could exhaust the module's stack.
//
// Go's regexp compiler recurses once per level of nesting, and it expands counted
// repetitions first: x{0,60} becomes 60 nested optional groups. Under TinyGo the
// module's stack is 64 KiB, and such a pattern traps the whole VM (FACTS.md). So the
// pattern is parsed (the parser itself is iterative) after a bound on its raw group
// nesting, and its nesting after expansion, regexCost, must stay within maxRegexCost.
func checkRegexSize(pattern string) error {
	if len(pattern) > maxPatternBytes {
		return errors.New(text.Sprintf("regex is %d bytes long, more than the %d allowed", len(pattern), maxPatternBytes))
	}
	if depth := groupDepth(pattern); depth > maxGroupDepth {
		return errors.New(text.Sprintf("regex %q nests groups %d deep, more than the %d allowed", pattern, depth, maxGroupDepth))
	}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return errors.New(text.Sprintf("not a valid RE2 regex %q: %v", pattern, err))
	}
	if cost := regexCost(re); cost > maxRegexCost {
		return errors.New(text.Sprintf("regex %q is too deeply nested once its counted repetitions are expanded (cost %d, at most %d allowed): use * or + instead of large {n,m}, and fewer nested groups",
			pattern, cost, maxRegexCost))
	}
	return nil
}

// groupDepth is the deepest nesting of parentheses in a pattern, ignoring escaped ones
// and those inside character classes.
func groupDepth(pattern string) int {
	depth, deepest, inClass := 0, 0, false
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\':
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
			if i+1 < len(pattern) && pattern[i+1] == ']' {
				i++ // a leading ] is a literal
			}
		case c == '(':
			depth++
			deepest = max(deepest, depth)
		case c == ')':
			depth--
		}
	}
	return deepest
}

// regexCost estimates the stack the regexp compiler needs for re: its nesting depth
// once Simplify has expanded counted repetitions (x{n,m} nests m-n optional copies of
// x), each level weighted by what its frames cost under TinyGo. The weights were
// measured: a level of x{0,n} or of (a|...) costs about twice a capture group.
func regexCost(re *syntax.Regexp) int {
	deepest := 0
	for _, sub := range re.Sub {
		deepest = max(deepest, regexCost(sub))
	}
	switch re.Op {
	case syntax.OpRepeat:
		nested := 1
		if re.Max > re.Min {
			nested = re.Max - re.Min
		}
		return 4*nested + deepest
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpAlternate:
		return 4 + deepest
	case syntax.OpCapture:
		return 2 + deepest
	}
	return 1 + deepest
}
