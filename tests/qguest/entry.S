/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qguest's entry: a Multiboot (v1) image that QEMU's -kernel loads. The
 * a.out kludge gives the load addresses in the header, so QEMU loads the
 * flat binary as it is. It starts in 32-bit protected mode, paging off,
 * with the Multiboot information in ebx.
 */
#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00010002	/* memory info; addresses in the header */

	.section .text.entry, "ax"
	.code32
	.globl _start
	.align 4
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)
	.long	mb_header		/* header_addr */
	.long	_start_image		/* load_addr */
	.long	_end_image		/* load_end_addr */
	.long	_end_bss		/* bss_end_addr */
	.long	_start			/* entry_addr */
_start:
	cli
	movl	$stack_top, %esp
	pushl	%ebx
	call	qguest_main
1:	hlt
	jmp	1b

/* Any vector: nothing is enabled to interrupt, so it is a fault. */
	.globl fault_entry
fault_entry:
	cli
	call	qguest_fault
2:	hlt
	jmp	2b

	.bss
	.align 16
	.space	16384
stack_top:

	.section .note.GNU-stack, "", @progbits
