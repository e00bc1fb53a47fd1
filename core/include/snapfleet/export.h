/*
 * snapfleet: SF_API marks the public functions. The library is built with
 * -fvisibility=hidden, so only what carries SF_API is exported from the
 * shared library; SF_BUILDING_LIBRARY is defined while the library itself
 * is compiled (shared or static). For a user of the headers SF_API is
 * empty.
 */
#ifndef SNAPFLEET_EXPORT_H
#define SNAPFLEET_EXPORT_H

#if defined(SF_BUILDING_LIBRARY) && defined(__GNUC__)
#define SF_API __attribute__((visibility("default")))
#else
#define SF_API
#endif

#endif
