/* crc32c.h — CRC-32C (Castagnoli, iSCSI/ext4/LevelDB polynomial 0x1EDC6F41,
 * reflected), the checksum of out-of-line job payloads (store/record.h).
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (about 10 GB/s on
 * Zen 4, so a 256 KB payload costs ~25 µs on the store thread) and a
 * byte-wise table otherwise (~400 MB/s). Stateless; any thread. */
#ifndef FC_CRC32C_H
#define FC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of data[0..len), continuing from crc (pass 0 to start). data may be
 * NULL when len is 0. Check value: fc_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t fc_crc32c(uint32_t crc, const void *data, size_t len);

#endif
