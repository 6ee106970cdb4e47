// Package words puts numbers into the sentences vigil shows people.
package words

import "strconv"

// Count says "1 key", "2 keys": n and noun, with an s unless n is 1. It is
// for nouns whose plural takes a plain s, which are all vigil counts.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
