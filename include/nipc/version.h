/* SPDX-License-Identifier: MIT */
#ifndef NIPC_VERSION_H
#define NIPC_VERSION_H

#define NIPC_VERSION_MAJOR 0
#define NIPC_VERSION_MINOR 5
#define NIPC_VERSION_PATCH 0
#define NIPC_VERSION_STRING "0.5.0"
/* One number that grows with every release: 0xMMmmpp. */
#define NIPC_VERSION_HEX                                                                           \
    ((NIPC_VERSION_MAJOR << 16) | (NIPC_VERSION_MINOR << 8) | NIPC_VERSION_PATCH)

#endif /* NIPC_VERSION_H */
