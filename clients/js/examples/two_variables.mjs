// The reference addon's own example: two new variables on Order (and one on
// Orderline), kept in sync between terminals through possync.
import { Order, Orderline } from '../possync.js'

export class MyOrderline extends Orderline {
  init_from_JSON (json) {
    super.init_from_JSON(json)
    this.custom_notes = json.custom_notes
  }

  export_as_JSON () {
    const json = super.export_as_JSON()
    json.custom_notes = this.custom_notes
    return json
  }
}

export class MyOrder extends Order {
  static Orderline = MyOrderline

  init_from_JSON (json) {
    super.init_from_JSON(json)
    this.first_new_variable = json.first_new_variable
    this.second_new_variable = json.second_new_variable
  }

  export_as_JSON () {
    const json = super.export_as_JSON()
    json.first_new_variable = this.first_new_variable
    json.second_new_variable = this.second_new_variable
    return json
  }

  apply_ms_data (data) {
    super.apply_ms_data(data) // calls init_from_JSON: the fields are read
    this.render()
  }

  // Re-render the order: here, a line of text a test can read.
  render () {
    this.shown = `${this.name}: ${this.first_new_variable ?? '-'} / ${this.second_new_variable ?? '-'}`
  }
}
