package podmanconf

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"sync"
)

// loaded remembers what the library made of the last sets of files: a run
// loads the same files several times (the registries task's arguments at
// validation, then the host's files at check, then each prefix for the
// overrides), and each load stages files on disk. The result depends on
// nothing but the files, so a cached one is the same answer.
var loaded = &registriesCache{max: 64}

// registriesCache is a small bounded memo of LoadRegistries by content.
type registriesCache struct {
	mu    sync.Mutex
	max   int
	order [][sha256.Size]byte
	m     map[[sha256.Size]byte]cachedLoad
}

type cachedLoad struct {
	r   *Registries
	err error
}

// key hashes every path, kind and byte of files, in order.
func key(files []File) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, f := range files {
		for _, b := range [][]byte{[]byte(f.Path), f.Data} {
			binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
		if f.DropIn {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// load returns the cached result for files, or computes it with f.
func (c *registriesCache) load(files []File, f func([]File) (*Registries, error)) (*Registries, error) {
	k := key(files)
	c.mu.Lock()
	hit, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return hit.r.clone(), hit.err
	}
	r, err := f(files)
	var le *LoadError
	if err != nil && !errors.As(err, &le) {
		return r, err // staging failed: not an answer about the files
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[sha256.Size]byte]cachedLoad{}
	}
	if _, ok := c.m[k]; !ok {
		if len(c.order) == c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, k)
		c.m[k] = cachedLoad{r: r, err: err}
	}
	return r.clone(), err
}

// clone copies r so that no caller can change the cached answer.
func (r *Registries) clone() *Registries {
	if r == nil {
		return nil
	}
	c := *r
	c.Search = slices.Clone(r.Search)
	c.Registry = slices.Clone(r.Registry)
	c.Aliases = maps.Clone(r.Aliases)
	return &c
}
