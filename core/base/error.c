#include "snapfleet/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void sf_error_clear(sf_error *err)
{
    if (err == NULL)
        return;
    err->kind = NULL;
    err->field[0] = '\0';
    err->message[0] = '\0';
}

static void set_field(sf_error *err, const char *field)
{
    if (field == NULL)
        field = "";
    snprintf(err->field, sizeof err->field, "%s", field);
}

int sf_error_set(sf_error *err, const char *kind, const char *field,
                 const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return SF_ERR;
    err->kind = kind;
    set_field(err, field);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return SF_ERR;
}

int sf_error_set_errno(sf_error *err, int errnum, const char *field,
                       const char *fmt, ...)
{
    va_list ap;
    size_t used;

    if (err == NULL)
        return SF_ERR;
    err->kind = SF_EK_IO;
    set_field(err, field);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    used = strlen(err->message);
    snprintf(err->message + used, sizeof err->message - used, ": %s",
             strerror(errnum));
    return SF_ERR;
}

int sf_error_prefix(sf_error *err, const char *fmt, ...)
{
    char msg[SF_ERROR_MESSAGE_MAX];
    va_list ap;
    size_t used;

    if (err == NULL)
        return SF_ERR;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    used = strlen(msg);
    if (used + 1 < sizeof msg)
        memcpy(msg + used, err->message, sizeof msg - used - 1);
    msg[sizeof msg - 1] = '\0';
    memcpy(err->message, msg, sizeof msg);
    return SF_ERR;
}
