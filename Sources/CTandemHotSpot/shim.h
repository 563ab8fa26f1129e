/* The JVM walker's shared structs (bpf/tandem_hotspot.h), for the sampler's HotSpotLoading. */
#include "../../bpf/tandem_hotspot.h"
