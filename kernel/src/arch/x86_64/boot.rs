//! PVH entry: QEMU, Firecracker and Cloud Hypervisor start the kernel in
//! 32-bit protected mode with paging off and `ebx` pointing at
//! `hvm_start_info`. The stub builds boot page tables (the first GiB mapped
//! both at 0 and at the kernel's higher-half address), enters long mode and
//! jumps to `kmain` on the boot stack.

core::arch::global_asm!(
    r#"
    .section .note.pvh, "a"
    .p2align 2
    .long 4
    .long 8
    .long 18                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .quad pvh_start

    .section .boot.data, "aw"
    .p2align 12
boot_pml4:      .fill 512, 8, 0
boot_pdpt_low:  .fill 512, 8, 0
boot_pdpt_high: .fill 512, 8, 0
boot_pd:        .fill 512, 8, 0
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00209a0000000000    /* 0x08: 64-bit code */
    .quad 0x0000920000000000    /* 0x10: data */
boot_gdt_ptr:
    .word boot_gdt_ptr - boot_gdt - 1
    .long boot_gdt

    .section .boot.text, "ax"
    .code32
    .global pvh_start
pvh_start:
    cli
    cld
    mov %ebx, %esi              /* hvm_start_info, kept for kmain */

    /* PD: 512 x 2 MiB pages covering the first GiB. */
    mov $boot_pd, %edi
    mov $0x83, %eax             /* present | writable | huge */
    xor %ecx, %ecx
1:  mov %eax, (%edi,%ecx,8)
    movl $0, 4(%edi,%ecx,8)
    add $0x200000, %eax
    inc %ecx
    cmp $512, %ecx
    jne 1b

    mov $boot_pd, %eax
    or $3, %eax
    mov %eax, boot_pdpt_low
    mov %eax, boot_pdpt_high + 510 * 8
    mov $boot_pdpt_low, %eax
    or $3, %eax
    mov %eax, boot_pml4
    mov $boot_pdpt_high, %eax
    or $3, %eax
    mov %eax, boot_pml4 + 511 * 8

    mov %cr4, %eax
    or $(1 << 5), %eax          /* PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx       /* EFER */
    rdmsr
    or $((1 << 8) | (1 << 11)), %eax  /* LME | NXE */
    wrmsr
    mov %cr0, %eax
    or $((1 << 31) | (1 << 16) | 1), %eax  /* PG | WP | PE */
    mov %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $0x08, $boot_long_mode

    .code64
boot_long_mode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    movabs $boot_higher_half, %rax
    jmp *%rax

    .section .text.boot_higher_half, "ax"
boot_higher_half:
    /* Zero .bss (the loader may not), keeping the start_info pointer. */
    movabs $__bss_start, %rdi
    movabs $__bss_end, %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
    mov %esi, %edi
    movabs $boot_stack_top, %rsp
    xor %ebp, %ebp
    call kmain
2:  hlt
    jmp 2b

    /* The one kernel stack of the CPU (syscalls and traps run on it too). */
    .section .bss.boot_stack, "aw", @nobits
    .p2align 12
    .global boot_stack_top
boot_stack_bottom:
    .skip 262144
boot_stack_top:
"#,
    options(att_syntax)
);
