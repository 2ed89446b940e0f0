/* Wine 8.0 (Debian 12) has no bcryptprimitives.dll, which Rust's std on
 * Windows imports for ProcessPrng (its random source since Rust 1.78).
 * Windows 10+ ships the real one; this stand-in is for testing under wine
 * only: the same bytes from RtlGenRandom (advapi32!SystemFunction036). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
