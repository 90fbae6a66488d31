/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest entry. lmvm starts every vCPU here in 64-bit mode with paging on,
 * its own stack in rsp and its index in rdi.
 */
	.section .text.entry, "ax"
	.globl _start
_start:
	call	guest_main
1:	hlt
	jmp	1b

	.section .note.GNU-stack, "", @progbits
