import{c1 as i}from"./index-DEABRMFZ.js";const n=o=>["",...i].includes(o);export{n as i};
