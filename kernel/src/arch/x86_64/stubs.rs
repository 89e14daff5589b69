//! Trap entry stubs (generated list: one per vector 0..48) and the common
//! path that saves registers into a [`TrapFrame`] and calls Rust.

core::arch::global_asm!(
    r#"
    .section .text.trap_stubs, "ax"
trap_stub_0:
    push 0
    push 0
    jmp trap_common
trap_stub_1:
    push 0
    push 1
    jmp trap_common
trap_stub_2:
    push 0
    push 2
    jmp trap_common
trap_stub_3:
    push 0
    push 3
    jmp trap_common
trap_stub_4:
    push 0
    push 4
    jmp trap_common
trap_stub_5:
    push 0
    push 5
    jmp trap_common
trap_stub_6:
    push 0
    push 6
    jmp trap_common
trap_stub_7:
    push 0
    push 7
    jmp trap_common
trap_stub_8:
    push 8
    jmp trap_common
trap_stub_9:
    push 0
    push 9
    jmp trap_common
trap_stub_10:
    push 10
    jmp trap_common
trap_stub_11:
    push 11
    jmp trap_common
trap_stub_12:
    push 12
    jmp trap_common
trap_stub_13:
    push 13
    jmp trap_common
trap_stub_14:
    push 14
    jmp trap_common
trap_stub_15:
    push 0
    push 15
    jmp trap_common
trap_stub_16:
    push 0
    push 16
    jmp trap_common
trap_stub_17:
    push 17
    jmp trap_common
trap_stub_18:
    push 0
    push 18
    jmp trap_common
trap_stub_19:
    push 0
    push 19
    jmp trap_common
trap_stub_20:
    push 0
    push 20
    jmp trap_common
trap_stub_21:
    push 21
    jmp trap_common
trap_stub_22:
    push 0
    push 22
    jmp trap_common
trap_stub_23:
    push 0
    push 23
    jmp trap_common
trap_stub_24:
    push 0
    push 24
    jmp trap_common
trap_stub_25:
    push 0
    push 25
    jmp trap_common
trap_stub_26:
    push 0
    push 26
    jmp trap_common
trap_stub_27:
    push 0
    push 27
    jmp trap_common
trap_stub_28:
    push 0
    push 28
    jmp trap_common
trap_stub_29:
    push 29
    jmp trap_common
trap_stub_30:
    push 30
    jmp trap_common
trap_stub_31:
    push 0
    push 31
    jmp trap_common
trap_stub_32:
    push 0
    push 32
    jmp trap_common
trap_stub_33:
    push 0
    push 33
    jmp trap_common
trap_stub_34:
    push 0
    push 34
    jmp trap_common
trap_stub_35:
    push 0
    push 35
    jmp trap_common
trap_stub_36:
    push 0
    push 36
    jmp trap_common
trap_stub_37:
    push 0
    push 37
    jmp trap_common
trap_stub_38:
    push 0
    push 38
    jmp trap_common
trap_stub_39:
    push 0
    push 39
    jmp trap_common
trap_stub_40:
    push 0
    push 40
    jmp trap_common
trap_stub_41:
    push 0
    push 41
    jmp trap_common
trap_stub_42:
    push 0
    push 42
    jmp trap_common
trap_stub_43:
    push 0
    push 43
    jmp trap_common
trap_stub_44:
    push 0
    push 44
    jmp trap_common
trap_stub_45:
    push 0
    push 45
    jmp trap_common
trap_stub_46:
    push 0
    push 46
    jmp trap_common
trap_stub_47:
    push 0
    push 47
    jmp trap_common

    .section .rodata.trap_stub_table, "a"
    .p2align 3
    .global trap_stub_table
trap_stub_table:
    .quad trap_stub_0
    .quad trap_stub_1
    .quad trap_stub_2
    .quad trap_stub_3
    .quad trap_stub_4
    .quad trap_stub_5
    .quad trap_stub_6
    .quad trap_stub_7
    .quad trap_stub_8
    .quad trap_stub_9
    .quad trap_stub_10
    .quad trap_stub_11
    .quad trap_stub_12
    .quad trap_stub_13
    .quad trap_stub_14
    .quad trap_stub_15
    .quad trap_stub_16
    .quad trap_stub_17
    .quad trap_stub_18
    .quad trap_stub_19
    .quad trap_stub_20
    .quad trap_stub_21
    .quad trap_stub_22
    .quad trap_stub_23
    .quad trap_stub_24
    .quad trap_stub_25
    .quad trap_stub_26
    .quad trap_stub_27
    .quad trap_stub_28
    .quad trap_stub_29
    .quad trap_stub_30
    .quad trap_stub_31
    .quad trap_stub_32
    .quad trap_stub_33
    .quad trap_stub_34
    .quad trap_stub_35
    .quad trap_stub_36
    .quad trap_stub_37
    .quad trap_stub_38
    .quad trap_stub_39
    .quad trap_stub_40
    .quad trap_stub_41
    .quad trap_stub_42
    .quad trap_stub_43
    .quad trap_stub_44
    .quad trap_stub_45
    .quad trap_stub_46
    .quad trap_stub_47
"#
);
