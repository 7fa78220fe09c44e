package policy

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/runcred/runcred/internal/fail"
)

// Options bound an Engine. Zero fields take the defaults.
type Options struct {
	// Timeout bounds one set's evaluation (default 10 s); the caller's
	// context may end it sooner.
	Timeout time.Duration
	// MemoryLimit bounds how much the process heap may grow while one set
	// is evaluated (default 1 GiB). OPA has no allocation limit of its
	// own: the engine samples the Go heap every few milliseconds and
	// cancels the evaluation past the limit. It is a bound on the
	// process, not on one evaluation: concurrent evaluations and other
	// work count against each other, and an allocation burst between two
	// samples can overshoot it.
	MemoryLimit uint64
	// CacheSize is how many compiled set versions are kept (default 128),
	// least recently used evicted first.
	CacheSize int
}

const (
	defaultTimeout     = 10 * time.Second
	defaultMemoryLimit = 1 << 30
	defaultCacheSize   = 128
)

// Engine compiles and evaluates policy sets. It is safe for concurrent use.
type Engine struct {
	opts Options
	caps *ast.Capabilities

	mu    sync.Mutex
	lru   *list.List // of *compiled, most recently used first
	byKey map[string]*list.Element
}

// New returns an Engine with opts' bounds.
func New(opts Options) *Engine {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.MemoryLimit == 0 {
		opts.MemoryLimit = defaultMemoryLimit
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = defaultCacheSize
	}
	return &Engine{opts: opts, caps: capabilities(), lru: list.New(), byKey: map[string]*list.Element{}}
}

// compiled is one set version, compiled once. Its fields are set inside
// once and read-only after.
type compiled struct {
	key  string
	once sync.Once

	err      error // the set does not compile: every policy errors with it
	compiler *ast.Compiler
	store    storage.Store
	all      rego.PreparedEvalQuery // every policy's query in one evaluation
}

// evalPackage is the generated module that names each policy's query as
// a rule, so one evaluation answers them all and an undefined query shows
// as a missing key rather than hiding the others.
var evalPackage = ast.MustParseRef("data." + reservedPackage + ".eval")

var (
	reservedEval = ast.MustParseRef("data." + reservedPackage)
	paramsRef    = ast.MustParseRef(ParamsPath)
)

// generatedModule names the generated module; no set file can have the
// name, as Validate holds module names to relative paths.
const generatedModule = "/runcred/queries.rego"

// ruleName is the generated rule of the i-th policy.
func ruleName(i int) string { return fmt.Sprintf("p%d", i) }

// Compile compiles s (or finds it compiled) and returns why it does not
// compile, as an Invalid error naming the file and line. Uploads call it
// to refuse a broken set early; Evaluate fails such a set's policies.
func (e *Engine) Compile(ctx context.Context, s *Set) error {
	c, err := e.compiled(ctx, s)
	if err != nil {
		return err
	}
	return c.err
}

func (e *Engine) compiled(ctx context.Context, s *Set) (*compiled, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	digest, err := s.digest()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	el, ok := e.byKey[digest]
	if ok {
		e.lru.MoveToFront(el)
	} else {
		el = e.lru.PushFront(&compiled{key: digest})
		e.byKey[digest] = el
		for e.lru.Len() > e.opts.CacheSize {
			last := e.lru.Back()
			e.lru.Remove(last)
			delete(e.byKey, last.Value.(*compiled).key)
		}
	}
	c := el.Value.(*compiled)
	e.mu.Unlock()
	c.once.Do(func() { c.err = e.compile(context.WithoutCancel(ctx), s, c) })
	return c, nil
}

// compile parses s's modules as Rego v1, adds the generated query module,
// compiles them under the restricted capabilities and prepares the query.
func (e *Engine) compile(ctx context.Context, s *Set, c *compiled) error {
	files := s.files()
	modules := make(map[string]*ast.Module, len(files)+1)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		m, err := ast.ParseModuleWithOpts(name, files[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return fail.Wrap(fail.Invalid, err, "policy set "+s.ID+": "+regoErrors(err))
		}
		if m.Package.Path.HasPrefix(reservedEval) {
			return fail.Invalidf("policy set %s: %s: package %s is reserved", s.ID, name, m.Package.Path)
		}
		if m.Package.Path.HasPrefix(paramsRef) {
			return fail.Invalidf("policy set %s: %s: package %s is reserved for the set's parameters", s.ID, name, m.Package.Path)
		}
		modules[name] = m
	}
	var gen strings.Builder
	fmt.Fprintf(&gen, "package %s.eval\n", reservedPackage)
	for i, p := range s.Policies {
		ref, _ := queryRef(p.Query) // Validate checked it
		fmt.Fprintf(&gen, "%s := %s\n", ruleName(i), ref)
	}
	g, err := ast.ParseModuleWithOpts(generatedModule, gen.String(), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return fail.Wrap(fail.Invalid, err, "policy set "+s.ID+": the policies' queries do not parse: "+regoErrors(err))
	}
	modules[generatedModule] = g

	compiler := ast.NewCompiler().WithCapabilities(e.caps)
	if compiler.Compile(modules); compiler.Failed() {
		return fail.Wrap(fail.Invalid, compiler.Errors, "policy set "+s.ID+": "+regoErrors(compiler.Errors))
	}
	params, err := jsonValue(s.Params)
	if err != nil {
		return fail.Invalidf("policy set %s: parameters: %v", s.ID, err)
	}
	c.compiler = compiler
	c.store = inmem.NewFromObject(map[string]any{"params": params})
	c.all, err = e.prepare(ctx, c, evalPackage.String())
	return err
}

func (e *Engine) prepare(ctx context.Context, c *compiled, query string) (rego.PreparedEvalQuery, error) {
	pq, err := rego.New(
		rego.Compiler(c.compiler),
		rego.Store(c.store),
		rego.Query(query),
		rego.Capabilities(e.caps),
		// A built-in's error would otherwise make its expression
		// undefined, and a deny rule that never fires passes.
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return pq, fail.Wrap(fail.Invalid, err, "preparing "+query+": "+regoErrors(err))
	}
	return pq, nil
}

// jsonValue makes params plain JSON values (maps, slices, strings,
// json.Number, bools, nil) as OPA's store expects.
func jsonValue(v map[string]any) (any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, util.UnmarshalJSON(b, &out)
}

// regoErrors is OPA's error list, one line each, with file and line.
func regoErrors(err error) string {
	var errs ast.Errors
	if errors.As(err, &errs) {
		lines := make([]string, 0, len(errs))
		for _, e := range errs {
			lines = append(lines, e.Error())
		}
		return strings.Join(lines, "; ")
	}
	var te *topdown.Error
	if errors.As(err, &te) {
		return te.Error()
	}
	return err.Error()
}
