import type { Kysely } from 'kysely';

// The foreign key made every chunk's claim take a KEY SHARE lock on its operation's row, which
// all chunks of a batch also update: with 16 chunks in flight the row carried a MultiXact of
// lockers, and the bench lost about a tenth of its rate to it (README, Performance). The claim
// inserts a chunk row only when it finds the operation, and operations are never deleted.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('operation_chunks').dropConstraint('operation_chunks_operation_id_fkey').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('operation_chunks')
    .addForeignKeyConstraint('operation_chunks_operation_id_fkey', ['operation_id'], 'operations', ['operation_id'])
    .onDelete('cascade')
    .execute();
}
