//! Multiboot2 entry, for disks that boot by themselves (GRUB from BIOS or
//! UEFI). The loader enters in 32-bit protected mode with paging off,
//! `eax` = 0x36d76289 and `ebx` pointing at its boot information. The stub
//! turns that information into a PVH `hvm_start_info` (memory map and
//! command line copied into the kernel's own boot data, so nothing points
//! into memory the frame allocator will hand out) and jumps to
//! `pvh_start`: from there on every boot path is the same.
//!
//! The header sits in `.boot.header`, the first bytes of the first loaded
//! segment, well inside the 32 KiB where a loader looks for it.

core::arch::global_asm!(
    r#"
    .set MB2_MAGIC, 0xe85250d6
    .set MB2_LOADER_MAGIC, 0x36d76289
    .set MB2_TAG_END, 0
    .set MB2_TAG_CMDLINE, 1
    .set MB2_TAG_MMAP, 6
    .set PVH_MAGIC, 0x336ec578
    .set MB2_MAX_REGIONS, 64
    .set MB2_MAX_CMDLINE, 2048
    .set MB2_ENTRY, 24              /* hvm_memmap_table_entry, as multiboot2's */

    .section .boot.header, "a"
    .p2align 3
mb2_header:
    .long MB2_MAGIC
    .long 0                         /* architecture: i386 protected mode */
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_MAGIC + (mb2_header_end - mb2_header))
    /* Entry address tag: the ELF entry stays pvh_start for PVH loaders. */
    .short 3
    .short 0
    .long 12
    .long mb2_start
    .long 0                         /* pad the next tag to 8 bytes */
    .short MB2_TAG_END
    .short 0
    .long 8
mb2_header_end:

    .section .boot.data, "aw"
    .p2align 3
mb2_start_info:                     /* struct hvm_start_info */
    .long 0                         /* magic, set last */
    .long 1                         /* version: has the memory map */
    .long 0                         /* flags */
    .long 0                         /* nr_modules */
    .quad 0                         /* modlist_paddr */
    .quad 0                         /* cmdline_paddr */
    .quad 0                         /* rsdp_paddr: not passed on */
    .quad 0                         /* memmap_paddr */
    .long 0                         /* memmap_entries */
    .long 0
mb2_memmap:     .fill MB2_MAX_REGIONS * MB2_ENTRY, 1, 0
mb2_cmdline:    .fill MB2_MAX_CMDLINE, 1, 0
    .p2align 4
mb2_stack:      .fill 256, 1, 0
mb2_stack_top:

    .section .boot.text, "ax"
    .code32
    .global mb2_start
mb2_start:
    cli
    cld
    cmp $MB2_LOADER_MAGIC, %eax
    jne mb2_stop
    mov $mb2_stack_top, %esp
    mov (%ebx), %ecx                /* total size of the information */
    add %ebx, %ecx                  /* ecx: its end */
    lea 8(%ebx), %ebx               /* ebx: the first tag */
mb2_next_tag:
    lea 8(%ebx), %eax
    cmp %ecx, %eax                  /* a tag header must fit */
    ja mb2_done
    mov (%ebx), %eax
    cmp $MB2_TAG_END, %eax
    je mb2_done
    cmp $MB2_TAG_CMDLINE, %eax
    je mb2_cmdline_tag
    cmp $MB2_TAG_MMAP, %eax
    je mb2_mmap_tag
mb2_skip_tag:
    mov 4(%ebx), %eax               /* size, without the padding to 8 */
    cmp $8, %eax
    jb mb2_done                     /* malformed: stop looking */
    add $7, %eax
    and $~7, %eax
    add %eax, %ebx
    jmp mb2_next_tag

mb2_cmdline_tag:
    /* Copy the NUL-terminated string after the 8-byte tag header, at
       most MB2_MAX_CMDLINE - 1 bytes and never past the tag. */
    lea 8(%ebx), %esi
    mov 4(%ebx), %edx
    add %ebx, %edx                  /* edx: end of the tag */
    mov $mb2_cmdline, %edi
    mov $(MB2_MAX_CMDLINE - 1), %ebp
1:  cmp %edx, %esi
    jae 2f
    movb (%esi), %al
    test %al, %al
    jz 2f
    movb %al, (%edi)
    inc %esi
    inc %edi
    dec %ebp
    jnz 1b
2:  movb $0, (%edi)
    movl $mb2_cmdline, mb2_start_info + 24
    jmp mb2_skip_tag

mb2_mmap_tag:
    /* type, size, entry_size, entry_version, then entries of entry_size
       bytes whose first 24 are base, length, type, reserved: exactly an
       hvm_memmap_table_entry. */
    mov 8(%ebx), %edx               /* entry_size */
    cmp $MB2_ENTRY, %edx
    jb mb2_skip_tag
    lea 16(%ebx), %esi              /* the first entry */
    mov 4(%ebx), %ebp
    add %ebx, %ebp                  /* ebp: end of the tag */
    mov $mb2_memmap, %edi
    xor %eax, %eax                  /* entries copied */
1:  cmp $MB2_MAX_REGIONS, %eax
    jae 2f
    push %eax
    lea (%esi,%edx), %eax
    cmp %ebp, %eax                  /* the whole entry inside the tag? */
    pop %eax
    ja 2f
    push %ecx
    push %esi
    mov $(MB2_ENTRY / 4), %ecx
    rep movsl                       /* edi advances by one entry */
    pop %esi
    pop %ecx
    add %edx, %esi
    inc %eax
    jmp 1b
2:  movl $mb2_memmap, mb2_start_info + 40
    mov %eax, mb2_start_info + 48
    jmp mb2_skip_tag

mb2_done:
    movl $PVH_MAGIC, mb2_start_info
    mov $mb2_start_info, %ebx
    jmp pvh_start

    /* Not started by a multiboot2 loader: nothing sensible to do. */
mb2_stop:
    hlt
    jmp mb2_stop
    .code64                         /* what the other assembly expects */
"#,
    options(att_syntax)
);
