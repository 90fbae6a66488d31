/* SPDX-License-Identifier: GPL-2.0 */
/* The guest's flat binary, built from guest.c, inside lmvm. */
	.section .rodata
	.balign 16
	.globl lmvm_guest_start, lmvm_guest_end
lmvm_guest_start:
	.incbin "lmvm-guest.bin"
lmvm_guest_end:

	.section .note.GNU-stack, "", @progbits
