package runenv

import "errors"

// MaxArgs bounds the words Split returns.
const MaxArgs = 1000

// Split splits a TF_CLI_ARGS value into words as OpenTofu does (it uses
// github.com/mattn/go-shellwords with environment and command expansion
// off): words are separated by blanks; single quotes keep everything
// literally; double quotes keep blanks; a backslash outside single quotes
// keeps the next character. Unlike the shell splitter it does not stop at
// ; & | < or >: it reads the whole value, so a check sees every word
// OpenTofu might. An unterminated quote or a trailing backslash is an
// error, as in OpenTofu.
func Split(s string) ([]string, error) {
	var (
		words          []string
		word           []rune
		inWord         bool
		escaped        bool
		single, double bool
	)
	for _, r := range s {
		switch {
		case escaped:
			word, inWord, escaped = append(word, r), true, false
		case r == '\\' && !single:
			escaped = true
		case r == '\'' && !double:
			single, inWord = !single, true
		case r == '"' && !single:
			double, inWord = !double, true
		case (r == ' ' || r == '\t' || r == '\r' || r == '\n') && !single && !double:
			if inWord {
				if len(words) == MaxArgs {
					return nil, errors.New("too many words")
				}
				words = append(words, string(word))
				word, inWord = word[:0], false
			}
		default:
			word, inWord = append(word, r), true
		}
	}
	if escaped || single || double {
		return nil, errors.New("unterminated quote or trailing backslash")
	}
	if inWord {
		if len(words) == MaxArgs {
			return nil, errors.New("too many words")
		}
		words = append(words, string(word))
	}
	return words, nil
}
