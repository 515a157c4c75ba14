package podmanconf

// SweepStale is sweepStale, for the tests.
var SweepStale = sweepStale
